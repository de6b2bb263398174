"""Checkpoints: exact round trips between any two backends, and a clear
CheckpointError for every file that is not a checkpoint of the network asked for."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from backprop_xp import NeuralNetwork, checkpoints, five_points, train
from backprop_xp.checkpoints import CheckpointError


def trained(backend="numpy", **kwargs):
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend, **kwargs)
    _, losses = train(x, y, net, 20, 0.25)
    return net, losses


def test_a_checkpoint_saved_on_one_backend_loads_exactly_on_another(backend, tmp_path):
    net, losses = trained(backend.name, dtype="float64")
    path = checkpoints.save(net, tmp_path / "net.npz", losses=losses, info={"dataset": "five-points"})
    here = checkpoints.load(path, backend="numpy")
    back = checkpoints.load(path, backend=backend.name)
    assert here.architecture == net.architecture and here.dtype == "float64" and back.backend == net.backend
    for (W, b), (V, c), (U, d) in zip(net.params, here.params, back.params):
        np.testing.assert_array_equal(backend.to_numpy(W), V)
        np.testing.assert_array_equal(backend.to_numpy(b), c)
        np.testing.assert_array_equal(backend.to_numpy(W), backend.to_numpy(U))
        np.testing.assert_array_equal(backend.to_numpy(b), backend.to_numpy(d))
    saved = checkpoints.read(path)
    np.testing.assert_array_equal(saved.losses, backend.to_numpy(losses))
    assert saved.info == {"dataset": "five-points"}
    x, _ = five_points()
    np.testing.assert_array_equal(backend.to_numpy(back.forward(x)), backend.to_numpy(net.forward(x)))
    np.testing.assert_allclose(np.asarray(here.forward(x)), backend.to_numpy(net.forward(x)), rtol=1e-14)


def test_every_architecture_setting_survives(tmp_path):
    net = NeuralNetwork(
        3, 4, [6], hidden_activation="relu", output_activation="softmax", loss="categorical_crossentropy",
        dtype="float32", seed=2,
    )
    loaded = checkpoints.load(checkpoints.save(net, tmp_path / "c.npz"))
    assert loaded.architecture == net.architecture and loaded.dtype == "float32"
    assert checkpoints.read(tmp_path / "c.npz").losses is None


def test_saving_replaces_a_file_whole_with_ordinary_permissions(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(b"old")
    checkpoints.save(trained()[0], path)
    assert checkpoints.load(path).architecture.sizes == (2, 5, 3, 1)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary file left


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _header(path):
    with np.load(path) as archive:
        return json.loads(str(archive["header"])), {k: archive[k] for k in archive.files}


def _rewrite(path, **changes):
    header, arrays = _header(path)
    header.update(changes.pop("header", {}))
    arrays.update(changes)
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def _drop_header_key(path, key):
    header, arrays = _header(path)
    del header[key]
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)


@pytest.fixture
def saved(tmp_path):
    net, losses = trained()
    return checkpoints.save(net, tmp_path / "net.npz", losses=losses)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(b"\x00garbage"), "is not a checkpoint: it is not a NumPy file"),
        (lambda p: p.write_text("hidden,lr\n5-3,0.25\n"), "is not a checkpoint: it is a text file"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "is not a readable checkpoint"),
        (lambda p: np.savez(p, weights=np.ones(3)), "is a .npz file but not a backprop_xp checkpoint"),
        (lambda p: np.save(p.with_suffix(".npy"), np.ones(3)) or os.replace(p.with_suffix(".npy"), p),
         "is not a readable checkpoint"),
        (lambda p: np.savez(p, header=np.array([1, 2], dtype=object)), "is not a readable checkpoint"),
        (lambda p: _rewrite(p, header={"format": "other"}), "not a backprop_xp checkpoint"),
        (lambda p: _rewrite(p, header={"version": 99}), "format version 99; this backprop_xp reads version 1"),
        (lambda p: _rewrite(p, header={"sizes": [2, 5, 1]}), "damaged header: 3 activations for 2 layers"),
        (lambda p: _rewrite(p, header={"sizes": [2, 5, 4, 1]}), "W1 should be a float32 array of shape (5, 4)"),
        (lambda p: _rewrite(p, header={"activations": ["relu", "tanh", "sigmoid"]}), "cannot build"),
        (lambda p: _rewrite(p, header={"loss": "hinge"}), "damaged header: Unknown loss 'hinge'"),
        (lambda p: _rewrite(p, header={"dtype": "float16"}), "damaged header: Unknown dtype 'float16'"),
        (lambda p: _rewrite(p, W0=np.ones((3, 5), np.float32)), "W0 should be a float32 array of shape (2, 5); found shape (3, 5)"),
        (lambda p: _rewrite(p, W0=np.ones((2, 5), np.float16)), "found shape (2, 5), dtype float16"),
        (lambda p: _rewrite(p, W1=np.full((5, 3), np.nan, np.float32)), "holds NaN or infinite weights in W1"),
        (lambda p: _drop_header_key(p, "loss"), "it has no 'loss' entry"),
        (lambda p: _rewrite(p, b2=None), "b2 should be a float32 array of shape (1,); found nothing"),
        (lambda p: _rewrite(p, losses=np.ones((2, 2))), "losses should be a 1-D float array"),
    ],
)
def test_damaged_or_foreign_files_are_refused_clearly(saved, damage, message):
    damage(saved)
    with pytest.raises(CheckpointError) as caught:
        checkpoints.load(saved)
    assert message in str(caught.value) and str(saved) in str(caught.value)

