"""Activations, losses and whole networks stay finite and right at the
extremes: pre-activations up to +-1e4, in float32 and float64, on every
backend, with NumPy's overflow, division and invalid-operation warnings
turned into errors.

Underflow is allowed: ``exp(-1e4)`` is 0 in any float, and a result that
rounds to 0 (``sigmoid(-1e4)``, a far softmax entry) is the right answer, so
NumPy's default (ignore underflow) stays. The references are float64 values
worked out by hand or with NumPy's own ``logaddexp``, never backprop_xp's code.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, equations
from backprop_xp.activations import ACTIVATIONS, DERIVATIVES, HIDDEN_ACTIVATIONS
from backprop_xp.architecture import Architecture
from backprop_xp.losses import COMPATIBLE_OUTPUTS, LOSSES, LOSSES_FROM_LOGITS
from conftest import PAIRINGS, RTOL, assert_close, on_backend

DTYPES = ("float32", "float64")
BIG = 1e4
LOG2 = math.log(2)


@contextlib.contextmanager
def strict_floats():
    """Overflow, division by zero and invalid operations raise, whether NumPy
    reports them through its error state or as warnings (dask's worker threads,
    whose error state is their own, warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def computed(backend, *values):
    """Host copies of backend arrays, computed in one pass on a lazy backend."""
    return [backend.to_numpy(v) for v in backend.evaluate(*values)]


# --- activations and their derivatives --------------------------------------

#: (activation, Z, A = act(Z), DERIVATIVES[act](A, dA) for dA = [[1, 2, 3]]):
#: the limits each activation must reach at +-1e4, and the derivatives there.
ACTIVATION_CASES = [
    ("identity", [[-BIG, 0.0, BIG]], [[-BIG, 0.0, BIG]], [[1.0, 2.0, 3.0]]),
    ("relu", [[-BIG, 0.0, BIG]], [[0.0, 0.0, BIG]], [[0.0, 0.0, 3.0]]),
    ("sigmoid", [[-BIG, 0.0, BIG]], [[0.0, 0.5, 1.0]], [[0.0, 0.5, 0.0]]),
    ("tanh", [[-BIG, 0.0, BIG]], [[-1.0, 0.0, 1.0]], [[0.0, 2.0, 0.0]]),
    ("softmax", [[-BIG, 0.0, BIG]], [[0.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]]),
    ("softmax", [[BIG, BIG, -BIG]], [[0.5, 0.5, 0.0]], [[-0.25, 0.25, 0.0]]),
    ("softmax", [[-BIG, -BIG, -BIG]], [[1 / 3, 1 / 3, 1 / 3]], [[-1 / 3, 0.0, 1 / 3]]),
    ("softmax", [[BIG, -BIG, 0.0], [-BIG, -BIG, BIG]], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[0.0] * 3, [0.0] * 3]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name, Z, A, dZ", ACTIVATION_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ACTIVATION_CASES)]
)
def test_activations_and_derivatives_reach_their_limits(backend, dtype, name, Z, A, dZ):
    xp = backend.xp
    Zb = backend.from_numpy(np.asarray(Z, dtype=dtype))
    dA = backend.from_numpy(np.tile(np.asarray([1.0, 2.0, 3.0], dtype=dtype), (len(Z), 1)))
    with strict_floats():
        Ab = ACTIVATIONS[name](Zb, xp)
        dZb = DERIVATIVES[name](Ab, dA, xp)
        host_A, host_dZ = computed(backend, Ab, dZb)
    assert Ab.dtype == getattr(xp, dtype) and dZb.dtype == getattr(xp, dtype)
    # The limits are reached to the last bit but for the thirds of a uniform softmax.
    np.testing.assert_allclose(host_A, A, rtol=RTOL[dtype], atol=0)
    np.testing.assert_allclose(host_dZ, dZ, rtol=RTOL[dtype], atol=0)


def _reference_activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":  # the textbook form of each sign, in float64
        return np.vectorize(lambda z: 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z)))(z)
    if name == "softmax":
        return np.exp(z - np.logaddexp.reduce(z, axis=1, keepdims=True))
    return {"identity": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[name](z)


#: Pre-activations from the far tails to the middle, where exp(+-Z) over- or underflows or not.
GRID = np.array([[-BIG, -1e3, -100.0, -89.0, -30.0, -1.0, 0.0, 0.5, 30.0, 89.0, 100.0, 1e3, BIG]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_match_float64_references_from_the_tails_to_the_middle(backend, dtype, name):
    xp = backend.xp
    Z = np.concatenate([GRID, GRID[:, ::-1] / 100])  # a second row for softmax: no one-hot
    Zb = backend.from_numpy(Z.astype(dtype))
    with strict_floats():
        A = ACTIVATIONS[name](Zb, xp)
        dZ = DERIVATIVES[name](A, xp.ones_like(A), xp)
        host_A, host_dZ = computed(backend, A, dZ)
    expected = _reference_activation(name, Z.astype(dtype).astype(np.float64))
    # atol: results below the smallest normal float are subnormal or 0, both right.
    np.testing.assert_allclose(host_A, expected, rtol=4 * RTOL[dtype], atol=np.finfo(dtype).smallest_normal)
    assert np.all(np.isfinite(host_dZ))


# --- losses from the logits ---------------------------------------------------

#: (output activation, loss, Z, Y, the loss in float64 worked out by hand).
#: With Z = +-1e4 the outputs round to exactly 0 or 1, where a loss of A can
#: only clip (giving -log(tiny): 87 in float32, 708 in float64, not 1e4).
LOGIT_LOSS_CASES = [
    ("sigmoid", "binary_crossentropy", [[-BIG]], [[1.0]], BIG),
    ("sigmoid", "binary_crossentropy", [[BIG]], [[0.0]], BIG),
    ("sigmoid", "binary_crossentropy", [[BIG]], [[1.0]], 0.0),
    ("sigmoid", "binary_crossentropy", [[-BIG]], [[0.25]], 0.25 * BIG),
    ("sigmoid", "binary_crossentropy", [[-BIG, BIG, 0.0]], [[1.0, 0.0, 1.0]], (2 * BIG + LOG2) / 3),
    # A tiny loss keeps its relative precision (no max(Z, 0) - Y*Z cancellation).
    ("sigmoid", "binary_crossentropy", [[40.0]], [[1.0]], math.log1p(math.exp(-40.0))),
    ("sigmoid", "binary_crossentropy", [[-40.0]], [[0.0]], math.log1p(math.exp(-40.0))),
    ("softmax", "categorical_crossentropy", [[-BIG, BIG, 0.0]], [[1.0, 0.0, 0.0]], 2 * BIG),
    ("softmax", "categorical_crossentropy", [[BIG, -BIG, 0.0]], [[1.0, 0.0, 0.0]], 0.0),
    ("softmax", "categorical_crossentropy", [[BIG, BIG, -BIG]], [[1.0, 0.0, 0.0]], LOG2),
    ("softmax", "categorical_crossentropy", [[-BIG, BIG, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]],
     (BIG + math.log(3)) / 2),
    ("softmax", "binary_crossentropy", [[-BIG, BIG, 0.0]], [[1.0, 0.0, 1.0]], 4 * BIG / 3),
    # The largest unit's 1 - A is exp(-2e4)-small: its log needs the shift by the second largest.
    ("softmax", "binary_crossentropy", [[BIG, -BIG, -BIG]], [[0.0, 0.0, 0.0]], (2 * BIG - LOG2) / 3),
    ("softmax", "binary_crossentropy", [[BIG, BIG, -BIG]], [[1.0, 1.0, 0.0]], 2 * LOG2 / 3),
    ("softmax", "binary_crossentropy", [[0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]], (math.log(3) + 2 * math.log(1.5)) / 3),
]


def test_losses_from_logits_cover_every_cross_entropy_of_sigmoid_and_softmax():
    expected = {
        (output, loss) for loss, outputs in COMPATIBLE_OUTPUTS.items() if loss != "mse" for output in outputs
    }
    assert set(LOSSES_FROM_LOGITS) == expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "output, loss, Z, Y, expected", LOGIT_LOSS_CASES,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(LOGIT_LOSS_CASES)],
)
def test_losses_from_logits_are_exact_where_outputs_saturate(backend, dtype, output, loss, Z, Y, expected):
    xp = backend.xp
    Zb, Yb = (backend.from_numpy(np.asarray(a, dtype=dtype)) for a in (Z, Y))
    with strict_floats():
        value = LOSSES_FROM_LOGITS[(output, loss)](Zb, Yb, xp)
        (host,) = computed(backend, value)
    assert value.shape == () and value.dtype == getattr(xp, dtype)
    assert host == pytest.approx(expected, rel=4 * RTOL[dtype], abs=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", sorted(LOSSES_FROM_LOGITS))
def test_losses_from_logits_equal_the_losses_of_outputs_on_ordinary_values(backend, dtype, output, loss):
    rng = np.random.default_rng(4)
    Z = rng.normal(0, 3, size=(8, 3))
    Y = rng.dirichlet(np.ones(3), size=8) if loss == "categorical_crossentropy" else rng.uniform(size=(8, 3))
    Zb, Yb = on_backend(backend, [], Z, Y, dtype=dtype)[1:]
    xp = backend.xp
    with strict_floats():
        from_logits = LOSSES_FROM_LOGITS[(output, loss)](Zb, Yb, xp)
        of_outputs = LOSSES[loss](ACTIVATIONS[output](Zb, xp), Yb, xp)
        got, want = computed(backend, from_logits, of_outputs)
    np.testing.assert_allclose(got, want, rtol=4 * RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", sorted(LOSSES_FROM_LOGITS))
def test_engine_and_get_loss_take_the_loss_from_the_logits(backend, dtype, output, loss):
    # One layer with W = I and b = 0, so that Z_L is X: saturated rows by design.
    Z = np.array([[-BIG, BIG, 0.0], [BIG, -BIG, -BIG]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = _reference_loss(output, loss, Z, Y)
    net = NeuralNetwork(3, 3, [], output_activation=output, loss=loss, dtype=dtype, backend=backend.name)
    net.params = [(np.eye(3), np.zeros(3))]
    X, Yb = on_backend(backend, [], Z, Y, dtype=dtype)[1:]
    with strict_floats():
        engine_loss, grads = equations.loss_and_gradients(net.params, X, Yb, net.architecture)
        api_loss = net.get_loss(Z.astype(dtype), Y.astype(dtype))
        engine_host, api_host, *host_grads = computed(backend, engine_loss, api_loss, *grads[0])
    for value in (engine_host, api_host):
        assert value == pytest.approx(expected, rel=4 * RTOL[dtype])
    assert all(np.all(np.isfinite(g)) for g in host_grads)
    if (output, loss) != ("softmax", "binary_crossentropy"):
        # The fused Delta_L = (A - Y) / its count is exact here: A is exactly 0 or 1.
        A = _reference_activation(output, Z)
        delta = (A - Y) / (Y.size if loss == "binary_crossentropy" else len(Y))
        np.testing.assert_allclose(host_grads[0], Z.T @ delta, rtol=RTOL[dtype])
        np.testing.assert_allclose(host_grads[1], delta.sum(axis=0), rtol=RTOL[dtype])


# --- whole networks at extreme weights and inputs -----------------------------


def _reference_loss(output: str, loss: str, Z: np.ndarray, Y: np.ndarray) -> float:
    """The loss of logits ``Z`` in float64 with NumPy's logaddexp, for any compatible pair."""
    if loss == "mse":
        return float(np.mean((_reference_activation(output, Z) - Y) ** 2))
    if output == "sigmoid":  # -log sigmoid(Z) = log(1 + exp(-Z)), -log(1 - sigmoid(Z)) = log(1 + exp(Z))
        return float(np.mean(Y * np.logaddexp(0, -Z) + (1 - Y) * np.logaddexp(0, Z)))
    log_total = np.logaddexp.reduce(Z, axis=1, keepdims=True)
    log_A = Z - log_total
    if loss == "categorical_crossentropy":
        return float(-np.sum(Y * log_A) / len(Z))
    # log(1 - A_i) = log(sum of exp(Z_j) over j != i) - log(sum of all)
    log_not_A = np.stack(
        [np.logaddexp.reduce(np.delete(Z, i, axis=1), axis=1) for i in range(Z.shape[1])], axis=1
    ) - log_total
    return float(-np.mean(Y * log_A + (1 - Y) * log_not_A))


def _reference_logits(arch: Architecture, params, X: np.ndarray) -> np.ndarray:
    A = X
    for (W, b), name in zip(params[:-1], arch.activations):
        A = _reference_activation(name, A @ W + b)
    W, b = params[-1]
    return A @ W + b


def extreme_problem(hidden: str, output: str, loss: str, dtype: str, seed: int = 5):
    """Two hidden layers with large weights (tanh and sigmoid units saturate,
    relu and identity ones grow), the output layer scaled so that its logits
    reach +-1e4, targets that disagree with the output where it saturates.

    Returns the Architecture, params and X rounded to ``dtype`` (as float64),
    Y, and the float64 logits of those rounded values."""
    arch = Architecture.build(3, 3, [4, 5], hidden, output, loss)
    rng = np.random.default_rng(seed)
    params = [(rng.normal(0, 30, (n_in, n_out)), rng.normal(0, 30, n_out)) for n_in, n_out in zip(arch.sizes[:-1], arch.sizes[1:])]
    X = rng.normal(0, 30, size=(6, 3))
    scale = BIG / np.max(np.abs(_reference_logits(arch, params, X)))
    params[-1] = (params[-1][0] * scale, params[-1][1] * scale)
    rounded = [(W.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)) for W, b in params]
    X = X.astype(dtype).astype(np.float64)
    if loss == "categorical_crossentropy":
        Y = np.eye(3)[rng.integers(0, 3, size=6)]
    elif loss == "binary_crossentropy":
        Y = rng.integers(0, 2, size=(6, 3)).astype(np.float64)
    else:
        Y = rng.uniform(-1, 1, size=(6, 3))
    return arch, rounded, X, Y, _reference_logits(arch, rounded, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output, loss", PAIRINGS, ids=[f"{o}-{name}" for o, name in PAIRINGS])
def test_networks_at_extreme_weights_have_finite_gradients_and_the_right_loss(backend, dtype, hidden, output, loss):
    arch, params, X, Y, Z_L = extreme_problem(hidden, output, loss, dtype)
    assert np.max(np.abs(Z_L)) == pytest.approx(BIG)
    expected = _reference_loss(output, loss, Z_L, Y)
    params_b, X_b, Y_b = on_backend(backend, params, X, Y, dtype=dtype)
    with strict_floats():
        value, grads = equations.loss_and_gradients(params_b, X_b, Y_b, arch)
        host_loss, host_grads = backend.evaluate(value, grads)  # computed here on a lazy backend
    assert_close(backend, value, expected, rtol=1e-4 if dtype == "float32" else 1e-9, dtype=dtype, host=host_loss)
    for layer, pair in enumerate(host_grads):
        for g in pair:
            assert np.all(np.isfinite(backend.to_numpy(g))), f"layer {layer}"


class _NoClip:
    """NumPy's Array API namespace without ``clip``: array-api-compat's generic
    clip, which CuPy gets, assigns through boolean masks and so waits for the
    device (issue 13); the engine says what it means with maximum and where."""

    def __init__(self):
        import array_api_compat.numpy as xp

        self._xp = xp

    def __getattr__(self, name):
        if name == "clip":
            raise AssertionError("the engine called xp.clip")
        return getattr(self._xp, name)


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output, loss", PAIRINGS)
def test_no_step_calls_clip(hidden, output, loss):
    rng = np.random.default_rng(0)
    arch = Architecture.build(3, 2, [4], hidden_activation=hidden, output_activation=output, loss=loss)
    params = [(rng.normal(size=(3, 4)), rng.normal(size=4)), (rng.normal(size=(4, 2)), rng.normal(size=2))]
    X = rng.normal(size=(5, 3)) * 50  # saturated outputs: the clamps are on the path taken
    Y = np.eye(2)[rng.integers(0, 2, size=5)]
    loss_value, grads = equations.loss_and_gradients(params, X, Y, arch, xp=_NoClip())
    assert np.isfinite(loss_value) and all(np.all(np.isfinite(g)) for pair in grads for g in pair)
