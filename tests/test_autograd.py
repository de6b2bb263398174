"""Backprop's gradients against torch autograd and jax.grad on the same weights.

The references are written here with each library's own functions (no code of
backprop_xp's), for networks with two or three hidden layers and three outputs.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from backprop_xp import equations
from conftest import RTOL, architectures, assert_grads_close, make_problem, on_backend

CASES = architectures(depths=(3, 4))


@functools.lru_cache(maxsize=None)
def torch_reference(depth, hidden, output, loss, dtype):
    torch = pytest.importorskip("torch")
    arch, params, X, Y = make_problem(depth, hidden, output, loss)
    tdtype = getattr(torch, dtype)
    leaves = [
        (torch.tensor(W, dtype=tdtype, requires_grad=True), torch.tensor(b, dtype=tdtype, requires_grad=True))
        for W, b in params
    ]
    act = {
        "identity": lambda z: z,
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "softmax": lambda z: torch.softmax(z, dim=1),
        "tanh": torch.tanh,
    }
    A = torch.tensor(X, dtype=tdtype)
    for (W, b), name in zip(leaves, arch.activations):
        A = act[name](A @ W + b)
    T = torch.tensor(Y, dtype=tdtype)
    if loss == "mse":
        value = torch.nn.functional.mse_loss(A, T)
    elif loss == "binary_crossentropy":
        value = torch.nn.functional.binary_cross_entropy(A, T)
    else:
        value = -(T * torch.log(A)).sum() / A.shape[0]
    value.backward()
    return [(W.grad.numpy(), b.grad.numpy()) for W, b in leaves]


@functools.lru_cache(maxsize=None)
def jax_reference(depth, hidden, output, loss, dtype):
    jax = pytest.importorskip("jax")
    with jax.enable_x64(dtype == "float64"):  # for this reference only: the session's setting stays
        return _jax_grads(jax, depth, hidden, output, loss, dtype)


def _jax_grads(jax, depth, hidden, output, loss, dtype):
    jnp = jax.numpy
    arch, params, X, Y = make_problem(depth, hidden, output, loss)
    act = {
        "identity": lambda z: z,
        "relu": jax.nn.relu,
        "sigmoid": jax.nn.sigmoid,
        "softmax": lambda z: jax.nn.softmax(z, axis=1),
        "tanh": jnp.tanh,
    }

    def objective(params):
        A = jnp.asarray(X, dtype=dtype)
        for (W, b), name in zip(params, arch.activations):
            A = act[name](A @ W + b)
        T = jnp.asarray(Y, dtype=dtype)
        if loss == "mse":
            return jnp.mean((A - T) ** 2)
        if loss == "binary_crossentropy":
            return -jnp.mean(T * jnp.log(A) + (1 - T) * jnp.log1p(-A))
        return -jnp.sum(T * jnp.log(A)) / A.shape[0]

    on_cpu = jax.devices("cpu")[0]
    leaves = [(jnp.asarray(W, dtype=dtype, device=on_cpu), jnp.asarray(b, dtype=dtype, device=on_cpu)) for W, b in params]
    with jax.default_device(on_cpu):
        grads = jax.jit(jax.grad(objective))(leaves)
    return [(np.asarray(dW), np.asarray(db)) for dW, db in grads]


@pytest.mark.parametrize("reference", [torch_reference, jax_reference], ids=["torch_autograd", "jax_grad"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("depth, hidden, output, loss", CASES)
def test_gradients_match_autograd(backend, reference, dtype, depth, hidden, output, loss):
    expected = reference(depth, hidden, output, loss, dtype)
    arch, params, X, Y = make_problem(depth, hidden, output, loss)
    params_b, X_b, Y_b = on_backend(backend, params, X, Y, dtype=dtype)
    _, grads = equations.loss_and_gradients(params_b, X_b, Y_b, arch)
    # atol: rounding in a sum is relative to its terms, not to its result: an
    # entry that cancels to 1e-4 keeps the absolute error of terms of about 0.1
    # (measured in float32: 1.8e-8 on an entry of 4.6e-4).
    assert_grads_close(backend, grads, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2, dtype=dtype)
