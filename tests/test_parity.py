"""One seed, every backend: the same initial weights, the same gradients and
the same 2500-epoch loss curve as NumPy's (float64 within 1e-10 relative,
float32 within 1e-4)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, five_points, train

PARITY_RTOL = {"float64": 1e-10, "float32": 1e-4}
LAB = dict(input_size=2, output_size=1, hidden_sizes=[5, 3])
WIDE = dict(
    input_size=2, output_size=3, hidden_sizes=[6, 5, 4], hidden_activation="relu",
    output_activation="softmax", loss="categorical_crossentropy", init="he_normal",
)


def not_numpy(backend):
    if backend.library == "numpy":
        pytest.skip("NumPy is the reference the other backends are compared with")


@functools.lru_cache(maxsize=None)
def numpy_run(dtype, epochs, seed=0, config="lab"):
    x, y = _data(config)
    net = NeuralNetwork(**(LAB if config == "lab" else WIDE), dtype=dtype, seed=seed, backend="numpy")
    initial = [(W.copy(), b.copy()) for W, b in net.params]
    grads = [(dW.copy(), db.copy()) for dW, db in net.backward(x, y)]
    _, losses = train(x, y, net, epochs, 0.25 if config == "lab" else 0.05)
    return initial, grads, losses


def _data(config):
    x, y = five_points()
    if config == "wide":
        y = np.array([0, 1, 2, 1, 2])  # integer class labels, one-hot encoded by the network
    return x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", ["lab", "wide"])
def test_same_seed_same_initial_weights_and_gradients(backend, dtype, config):
    not_numpy(backend)
    initial, grads, _ = numpy_run(dtype, 1, config=config)
    x, y = _data(config)
    net = NeuralNetwork(**(LAB if config == "lab" else WIDE), dtype=dtype, seed=0, backend=backend.name)
    for (W, b), (W0, b0) in zip(net.params, initial):
        np.testing.assert_array_equal(backend.to_numpy(W), W0)  # bit for bit
        np.testing.assert_array_equal(backend.to_numpy(b), b0)
    for (dW, db), (eW, eb) in zip(net.backward(x, y), grads):
        np.testing.assert_allclose(backend.to_numpy(dW), eW, rtol=PARITY_RTOL[dtype], atol=1e-3 * PARITY_RTOL[dtype])
        np.testing.assert_allclose(backend.to_numpy(db), eb, rtol=PARITY_RTOL[dtype], atol=1e-3 * PARITY_RTOL[dtype])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_2500_epoch_loss_curve(backend, dtype):
    not_numpy(backend)
    if backend.library == "dask":
        pytest.skip("dask builds a graph each step (tens of ms on five points): 2500 epochs take minutes; "
                    "tests/test_dask.py compares shorter curves on many chunks")
    _, _, expected = numpy_run(dtype, 2500)
    x, y = five_points()
    net = NeuralNetwork(**LAB, dtype=dtype, seed=0, backend=backend.name)
    _, losses = train(x, y, net, 2500, 0.25)
    assert losses.shape == (2500,)
    np.testing.assert_allclose(backend.to_numpy(losses), expected, rtol=PARITY_RTOL[dtype])
