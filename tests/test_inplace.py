"""The step writes only into temporaries of its own (:mod:`backprop_xp.inplace`).

On every backend: a step leaves every input and parameter it was given as it
was, by identity and by value, and computes what the out-of-place forms
compute, bit for bit. On NumPy: the in-place forms do lower a step's peak
memory, and the cheap input check still finds every NaN.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from conftest import on_backend, random_problem

from backprop_xp import Architecture, NeuralNetwork, equations, get_backend
from backprop_xp import inplace as inplace_module
from backprop_xp.activations import DERIVATIVES, OVERWRITING
from backprop_xp.errors import NonFiniteError

#: The hidden/output activations with in-place derivatives, and one without.
CASES = [("tanh", "sigmoid", "mse"), ("sigmoid", "softmax", "categorical_crossentropy"), ("relu", "identity", "mse")]


def test_which_namespaces_may_overwrite(backend):
    mutable = {"numpy": True, "torch": True, "cupy": True, "array_api_strict": True, "jax": False, "dask": False}
    assert inplace_module.may_overwrite(backend.xp) is mutable[backend.library]


@pytest.mark.parametrize("hidden, output, loss", CASES)
def test_a_step_changes_no_input_and_no_parameter(backend, hidden, output, loss):
    arch = Architecture.build(3, 2, [4, 5], hidden, output, loss)
    host_params, host_X, host_Y = random_problem(arch, 7, seed=1)
    params, X, Y = on_backend(backend, host_params, host_X, host_Y)
    given = [pair for pair in params]
    objects = [a for pair in params for a in pair] + [X, Y]
    _, new = equations.sgd_step(params, X, Y, 0.5, arch, xp=backend.xp)
    _, grads = equations.loss_and_gradients(params, X, Y, arch, xp=backend.xp)
    assert all(p is q for p, q in zip(params, given))
    assert all(a is b for a, b in zip(objects, [a for pair in params for a in pair] + [X, Y]))
    for (W, b), (W0, b0) in zip(params, host_params):
        np.testing.assert_array_equal(backend.to_numpy(W), W0)
        np.testing.assert_array_equal(backend.to_numpy(b), b0)
    np.testing.assert_array_equal(backend.to_numpy(X), host_X)
    np.testing.assert_array_equal(backend.to_numpy(Y), host_Y)
    fresh = {id(a) for pair in new + grads for a in pair}
    assert not fresh & {id(a) for a in objects}  # nothing returned is an argument


@pytest.mark.parametrize("hidden, output, loss", CASES)
def test_backward_leaves_activations_handed_in_alone(backend, hidden, output, loss):
    # Without overwrite=True, backward's activations are the caller's: not written.
    arch = Architecture.build(3, 2, [4, 5], hidden, output, loss)
    params, X, Y = on_backend(backend, *random_problem(arch, 7, seed=2))
    xp = backend.xp
    activations = equations.forward(params, X, arch, xp=xp)
    (copies,) = backend.evaluate([backend.to_numpy(A).copy() for A in activations])
    held = list(activations)
    delta = equations.output_delta(activations[-1], Y, arch, xp)
    equations.backward(params, activations, delta, arch, xp)
    for A, saved in zip(held, copies):
        np.testing.assert_array_equal(backend.to_numpy(A), saved)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("plain", list(OVERWRITING))
def test_in_place_derivatives_equal_their_out_of_place_forms_bit_for_bit(backend, plain, dtype):
    rng = np.random.default_rng(3)
    host_A, host_dA = np.tanh(rng.normal(size=(6, 5))), rng.normal(size=(6, 5))
    if plain is DERIVATIVES["sigmoid"]:
        host_A = (host_A + 1) / 2
    xp = backend.xp
    A, dA = (backend.from_numpy(a.astype(dtype), copy=True) for a in (host_A, host_dA))
    expected = backend.to_numpy(plain(A, dA, xp)).copy()
    actual = OVERWRITING[plain](A, dA, xp)
    (actual,) = backend.evaluate(actual)
    np.testing.assert_array_equal(backend.to_numpy(actual), expected)


def _peak_bytes(step) -> int:
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_in_place_forms_lower_a_steps_peak_memory(monkeypatch):
    # NumPy reports its buffers to tracemalloc. One activation here is
    # 1024 x 128 float64, 1 MiB, eight times a weight matrix. The peak is in
    # the backward pass at the last hidden layer: with the activations below
    # it, delta @ W.T, and tanh' of (A*A)*dA: two temporaries out of place,
    # none in place.
    xp = get_backend("numpy").xp
    arch = Architecture.build(128, 10, [128, 128, 128], "tanh", "softmax", "categorical_crossentropy")
    params, X, Y = random_problem(arch, 1024, seed=4)

    def step():
        equations.sgd_step(params, X, Y, 0.1, arch, xp=xp)

    step()
    overwriting = _peak_bytes(step)
    monkeypatch.setattr(equations, "may_overwrite", lambda xp: False)
    monkeypatch.setattr(inplace_module, "may_overwrite", lambda xp: False)
    plain = _peak_bytes(step)
    activation = 1024 * 128 * 8
    assert overwriting <= plain - 1.5 * activation, (overwriting / activation, plain / activation)


def test_the_cheap_input_check_still_finds_every_nan_and_lets_large_values_through():
    net = NeuralNetwork(2, 1, [3], dtype="float32", seed=0)
    x = np.zeros((4, 2), dtype=np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        x_bad = x.copy()
        x_bad[2, 1] = bad
        with pytest.raises(NonFiniteError, match="x holds NaN"):
            net.forward(x_bad)
        with pytest.raises(NonFiniteError, match="y holds NaN"):
            net.get_loss(x, np.array([0, 1, bad, 0], dtype=np.float32))
    # Finite values whose sum overflows float32 pass: the elementwise test decides.
    big = np.full((4, 2), 3e38, dtype=np.float32)
    assert net.forward(big).shape == (4,)
    net.get_loss(x, np.full(4, 3e38, dtype=np.float32))  # raises nothing
