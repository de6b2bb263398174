"""The tables of activations, losses and initialisers are consistent, and each
entry is right on its own: derivatives against finite differences, fused
output deltas against the general product."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from backprop_xp import get_backend
from backprop_xp.activations import ACTIVATIONS, DERIVATIVES, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from backprop_xp.initializers import INITIALIZERS
from backprop_xp.losses import COMPATIBLE_OUTPUTS, LOSS_GRADIENTS, LOSSES, OUTPUT_DELTAS
from backprop_xp.reference.per_element import LOSS_PARTIAL, UNIT_ACTIVATION, UNIT_DERIVATIVE
from backprop_xp.reference.per_sample import ACTIVATION, JACOBIAN, LOSS_GRADIENT
from conftest import assert_close, numeric_gradient

xp = get_backend("numpy").xp


def test_every_activation_has_a_derivative_and_a_reference():
    assert set(ACTIVATIONS) == set(DERIVATIVES) == set(ACTIVATION) == set(JACOBIAN)
    # The per-element form treats softmax, the one activation of a whole layer, apart.
    assert set(UNIT_ACTIVATION) == set(UNIT_DERIVATIVE) == set(HIDDEN_ACTIVATIONS) == set(ACTIVATIONS) - {"softmax"}
    assert set(HIDDEN_ACTIVATIONS) <= set(OUTPUT_ACTIVATIONS) == set(ACTIVATIONS)


def test_every_loss_has_a_gradient_compatible_outputs_and_a_reference():
    assert set(LOSSES) == set(LOSS_GRADIENTS) == set(COMPATIBLE_OUTPUTS) == set(LOSS_GRADIENT) == set(LOSS_PARTIAL)
    for outputs in COMPATIBLE_OUTPUTS.values():
        assert set(outputs) <= set(OUTPUT_ACTIVATIONS)
    for output, loss in OUTPUT_DELTAS:
        assert output in COMPATIBLE_OUTPUTS[loss]


def test_every_initialiser_draws_a_matrix_of_the_asked_shape():
    rng = np.random.default_rng(0)
    assert INITIALIZERS
    for name, draw in INITIALIZERS.items():
        assert draw(rng, 3, 4).shape == (3, 4), name


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_from_the_output_is_the_vector_jacobian_product(name):
    rng = np.random.default_rng(1)
    Z, dA = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    A = ACTIVATIONS[name](Z, xp)
    numeric = numeric_gradient(lambda Z: np.sum(dA * ACTIVATIONS[name](Z, xp)), Z)
    np.testing.assert_allclose(DERIVATIVES[name](A, dA, xp), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(2)
    A = rng.uniform(0.05, 0.95, size=(4, 3))
    Y = rng.dirichlet(np.ones(3), size=4) if name == "categorical_crossentropy" else rng.uniform(size=(4, 3))
    numeric = numeric_gradient(lambda A: LOSSES[name](A, Y, xp), A, eps=1e-7)
    np.testing.assert_allclose(LOSS_GRADIENTS[name](A, Y, xp), numeric, rtol=1e-6)


@pytest.mark.parametrize("output, loss", sorted(OUTPUT_DELTAS))
def test_fused_output_deltas_equal_the_general_product(backend, output, loss):
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(6, 3))
    Y = rng.uniform(size=(6, 3))  # rows that do not sum to one: the fused form must not assume it
    Zb, Yb = backend.from_numpy(Z), backend.from_numpy(Y)
    bxp = backend.xp
    A = ACTIVATIONS[output](Zb, bxp)
    general = DERIVATIVES[output](A, LOSS_GRADIENTS[loss](A, Yb, bxp), bxp)
    assert_close(backend, OUTPUT_DELTAS[(output, loss)](A, Yb, bxp), backend.to_numpy(general), rtol=1e-12, dtype="float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_softmax_do_not_overflow(dtype):
    Z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            s = ACTIVATIONS["sigmoid"](Z, xp)
            p = ACTIVATIONS["softmax"](Z, xp)
    assert s.dtype == dtype and np.all(np.isfinite(s)) and s[0, 0] == 0 and s[0, -1] == 1 and s[0, 2] == 0.5
    assert np.all(np.isfinite(p)) and p[0, -1] == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropies_stay_finite_on_saturated_outputs(dtype):
    A = np.array([[0.0, 1.0, 0.5]], dtype=dtype)
    Y = np.array([[1.0, 0.0, 0.5]], dtype=dtype)
    for name in ("binary_crossentropy", "categorical_crossentropy"):
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            assert np.isfinite(LOSSES[name](A, Y, xp)), name
            assert np.all(np.isfinite(LOSS_GRADIENTS[name](A, Y, xp))), name
