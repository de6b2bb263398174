"""The datasets: seeded, well-formed, and digits learnable on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, train
from backprop_xp.datasets import DATASETS, GENERATED, load_dataset
from backprop_xp.experiment import accuracy


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_datasets_are_seeded_two_class_points_in_the_plane(name):
    data = load_dataset(name, seed=3)
    assert data.x.dtype == np.float32 and data.x.ndim == 2 and data.x.shape[1] == 2
    assert data.y.dtype == np.int64 and data.y.shape == (data.x.shape[0],)
    assert set(np.unique(data.y)) == {0, 1} and data.n_classes == 2
    assert abs(np.mean(data.y) - 0.5) < 0.15  # both classes well represented
    assert np.all(np.abs(data.x) < 3)
    again = load_dataset(name, seed=3)
    np.testing.assert_array_equal(data.x, again.x)
    assert not np.array_equal(data.x, load_dataset(name, seed=4).x)
    small = load_dataset(name, n_samples=10, noise=0.0, seed=3)
    assert small.x.shape == (10, 2)


def test_noise_moves_the_points():
    clean = load_dataset("circles", noise=0.0)
    radii = np.hypot(clean.x[:, 0], clean.x[:, 1])
    np.testing.assert_allclose(radii, np.where(clean.y == 1, 0.5, 1.0), rtol=1e-6)
    noisy = load_dataset("circles", noise=0.2)
    assert np.std(np.hypot(noisy.x[:, 0], noisy.x[:, 1]) - np.where(noisy.y == 1, 0.5, 1.0)) > 0.1


def test_five_points_is_the_labs():
    data = load_dataset("five-points")
    assert data.x.tolist() == [[0, 0], [1, 0], [0, -1], [-1, 0], [0, 1]] and data.y.tolist() == [1, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"name": "mnist"}, ValueError, "Unknown dataset 'mnist'. Expected one of: " + ", ".join(DATASETS)),
        ({"name": "moons", "n_samples": 1}, ValueError, "n_samples must be an integer of at least 2"),
        ({"name": "moons", "noise": -0.1}, ValueError, "noise must be a finite number >= 0"),
        ({"name": "five-points", "n_samples": 10}, ValueError, "The five-points dataset is fixed"),
        ({"name": "xor", "seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_bad_dataset_arguments_get_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        load_dataset(**kwargs)


def test_digits_are_split_into_disjoint_training_and_held_out_parts():
    pytest.importorskip("sklearn")
    data = load_dataset("digits")
    assert data.x.shape == (1348, 64) and data.x_test.shape == (449, 64) and data.n_classes == 10
    assert data.x.min() >= 0 and data.x.max() <= 1
    assert set(np.unique(data.y)) == set(range(10)) == set(np.unique(data.y_test))
    rows = {row.tobytes() for row in data.x}
    assert sum(row.tobytes() in rows for row in data.x_test) < 5  # (the digits hold a few duplicate images)


def test_digits_reach_095_held_out_accuracy_with_softmax_cross_entropy_and_adam(backend):
    pytest.importorskip("sklearn")
    data = load_dataset("digits")
    net = NeuralNetwork(
        64, 10, [32], output_activation="softmax", loss="categorical_crossentropy", seed=0, backend=backend.name
    )
    _, losses = train(data.x, data.y, net, 15, 0.01, optimizer="adam", batch_size=64, seed=0)
    assert float(losses[-1]) < float(losses[0]) / 10
    assert accuracy(net, data.x_test, data.y_test) >= 0.95
