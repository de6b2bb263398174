"""Backprop's gradients against central finite differences (float64), and the
batched engine against the lab's per-sample and per-element derivations."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from backprop_xp import Architecture, equations, get_backend
from backprop_xp.losses import LOSSES
from backprop_xp.reference import per_element_gradients, per_sample_gradients, sample_gradients
from conftest import architectures, assert_grads_close, make_problem, numeric_gradient, on_backend, with_param

FD_RTOL = 1e-6
FD_ATOL = 1e-9
EPS = 1e-6


def _loss(arch, params, X, Y) -> float:
    xp = get_backend("numpy").xp
    return float(LOSSES[arch.loss](equations.forward(params, X, arch, xp=xp)[-1], Y, xp))


def finite_difference_gradients(arch, params, X, Y):
    """Central differences of the loss, one parameter at a time, in float64."""
    return [
        tuple(
            numeric_gradient(lambda value: _loss(arch, with_param(params, layer, which, value), X, Y), array, EPS)
            for which, array in enumerate(pair)
        )
        for layer, pair in enumerate(params)
    ]


@functools.lru_cache(maxsize=None)
def finite_differences(depth, hidden, output, loss):
    return finite_difference_gradients(*make_problem(depth, hidden, output, loss))


@pytest.mark.parametrize("depth, hidden, output, loss", architectures())
def test_gradients_match_finite_differences(backend, depth, hidden, output, loss):
    arch, params, X, Y = make_problem(depth, hidden, output, loss)
    params_b, X_b, Y_b = on_backend(backend, params, X, Y)
    _, grads = equations.loss_and_gradients(params_b, X_b, Y_b, arch)
    # atol: a central difference with step 1e-6 carries an absolute rounding
    # error of about 1e-16 * |loss| / 1e-6 = 1e-10 (measured: up to 1.4e-10)
    # whatever the entry's size, so small entries (a relu unit dead on the
    # batch: exactly zero) are held to that rather than to FD_RTOL.
    assert_grads_close(
        backend, grads, finite_differences(depth, hidden, output, loss), rtol=FD_RTOL, atol=FD_ATOL,
        dtype="float64",
    )


@pytest.mark.parametrize("depth, hidden, output, loss", architectures())
def test_batched_gradient_is_the_sum_of_per_sample_gradients(depth, hidden, output, loss):
    numpy = get_backend("numpy")
    arch, params, X, Y = make_problem(depth, hidden, output, loss)
    _, grads = equations.loss_and_gradients(params, X, Y, arch)
    assert_grads_close(numpy, grads, per_sample_gradients(params, X, Y, arch), rtol=1e-12, dtype="float64")


@pytest.mark.parametrize("depth, hidden, output, loss", architectures(depths=(1, 3)))
def test_per_element_loops_agree_with_the_vector_form(depth, hidden, output, loss):
    arch, params, X, Y = make_problem(depth, hidden, output, loss, n_samples=3)
    expected = per_sample_gradients(params, X, Y, arch)
    for (dW, db), (eW, eb) in zip(per_element_gradients(params, X, Y, arch), expected):
        np.testing.assert_allclose(dW, eW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, eb, rtol=1e-12, atol=1e-15)


def test_one_sample_batch_equals_its_sample_gradient():
    numpy = get_backend("numpy")
    arch, params, X, Y = make_problem(3, "tanh", "sigmoid", "mse", n_samples=1)
    _, grads = equations.loss_and_gradients(params, X, Y, arch)
    assert_grads_close(numpy, grads, sample_gradients(params, X[0], Y[0], arch, 1), rtol=1e-12)


def test_finite_differences_catch_the_labs_printed_backward():
    # The lab's backward, as printed, takes every layer's derivative at the
    # last layer's pre-activation. With one output that broadcasts instead of
    # crashing, and the check must reject the result.
    numpy = get_backend("numpy")
    arch = Architecture.build(2, 1, [5, 3])
    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(i, o)), rng.normal(0, 0.1, o)) for i, o in zip(arch.sizes[:-1], arch.sizes[1:])]
    X, Y = rng.normal(size=(5, 2)), rng.uniform(size=(5, 1))
    activations = equations.forward(params, X, arch)
    Z_L = activations[-2] @ params[-1][0] + params[-1][1]
    sigmoid_prime_at_Z_L = activations[-1] * (1 - activations[-1])
    delta = 2 * (activations[-1] - Y) / Y.size * sigmoid_prime_at_Z_L
    wrong = []
    for layer in reversed(range(arch.depth)):
        wrong.insert(0, (activations[layer].T @ delta, delta.sum(axis=0)))
        delta = (delta @ params[layer][0].T) * (1 - np.tanh(Z_L) ** 2)
    expected = finite_difference_gradients(arch, params, X, Y)
    _, right = equations.loss_and_gradients(params, X, Y, arch)
    assert_grads_close(numpy, right, expected, rtol=FD_RTOL)
    with pytest.raises(AssertionError, match="layer 0 dW"):
        assert_grads_close(numpy, wrong, expected, rtol=FD_RTOL)
