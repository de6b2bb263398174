"""Every kind of bad input, one row per case: adding a case is one line.

Each row names a call, the exception type it must raise and a pattern its
message must match (what was expected, what was received). The API rows run
on every backend of the session and then check that nothing changed: the
network's parameters and stored gradients are bitwise as they were. The
command-line rows check exit status 2, one line on stderr, nothing on stdout
and nothing written.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest

import backprop_xp
from backprop_xp import NeuralNetwork, checkpoints, cli, equations, errors, five_points, train
from backprop_xp.architecture import Architecture
from backprop_xp.datasets import load_dataset
from backprop_xp.errors import (
    BackendMismatchError,
    BackendUnavailableError,
    CheckpointError,
    DataError,
    DeviceMismatchError,
    DTypeError,
    InputError,
    InputTypeError,
    LabelError,
    MissingPathError,
    NonFiniteError,
    PathError,
    SettingError,
    ShapeError,
    StateError,
    UnknownNameError,
)
from backprop_xp.gradcheck import gradient_check
from backprop_xp.optimizers import Adam, Momentum
from backprop_xp.playground.sessions import check_config
from backprop_xp.plotting import plot_decision_boundary, plot_losses
from backprop_xp.sweep import run_sweep


class Case(NamedTuple):
    call: Callable[[Any], Any]  # of a Context
    error: type[Exception]
    message: str  # a regular expression, searched in the message
    needs: tuple[str, ...] = ()  # modules that must be importable


class Context(NamedTuple):
    net: NeuralNetwork  # the lab's 2-5-3-1 network, float64, with stored gradients
    x: Any  # the five points, as NumPy arrays
    y: Any
    tmp: Any  # a pathlib.Path


def _softmax_net(backend: str) -> NeuralNetwork:
    return NeuralNetwork(2, 3, [4], output_activation="softmax", loss="categorical_crossentropy", seed=1, backend=backend)


def _with(a, index, column, value):
    """A float64 copy of ``a`` with one entry replaced (``column`` ignored for 1-D labels)."""
    a = np.array(a, dtype=np.float64)
    a[(index, column) if a.ndim == 2 else index] = value
    return a


def _set_params(net, params):
    net.params = params


def _replace_layer(net, layer, pair):
    params = net.params
    params[layer] = pair
    return params


def _construct(**kwargs):
    return NeuralNetwork(**(dict(input_size=2, output_size=1, hidden_sizes=[5, 3]) | kwargs))


def _foreign_array(ctx):
    """An array of a library other than the network's."""
    if ctx.net.backend.library == "torch":
        import array_api_strict

        return array_api_strict.zeros((5, 2))
    import torch

    return torch.zeros(5, 2)


def _other_device(ctx):
    import array_api_strict as strict

    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend="array_api_strict")
    net.forward(strict.zeros((5, 2), device=strict.Device("device1")))


def _text_file(tmp, name="notes.npz"):
    path = tmp / name
    path.write_text("not a checkpoint")
    return path


def _flat_targets(ctx):
    """The batch as the functional core takes it, but with Y of shape (n,), which would broadcast."""
    X, Y = ctx.net.as_arrays(ctx.x, ctx.y)
    return X, Y[:, 0]


def _saved(ctx):
    return checkpoints.save(ctx.net, ctx.tmp / "net.npz")


LEARNING_RATE = "learning_rate must be a positive, finite number"

API_CASES: dict[str, Case] = {
    # --- the constructor: sizes, names, dtypes, seeds, backends
    "input-size-zero": Case(lambda c: _construct(input_size=0), SettingError, r"input_size must be an integer of at least 1; received 0"),
    "input-size-negative": Case(lambda c: _construct(input_size=-1), SettingError, r"input_size must be an integer of at least 1; received -1"),
    "output-size-float": Case(lambda c: _construct(output_size=1.0), SettingError, r"output_size must be an integer of at least 1; received 1.0"),
    "hidden-size-zero": Case(lambda c: _construct(hidden_sizes=[5, 0]), SettingError, r"hidden_sizes\[1\] must be an integer of at least 1; received 0"),
    "hidden-size-float": Case(lambda c: _construct(hidden_sizes=[2.5]), SettingError, r"hidden_sizes\[0\] must be an integer of at least 1; received 2.5"),
    "hidden-size-bool": Case(lambda c: _construct(hidden_sizes=[True]), SettingError, r"hidden_sizes\[0\] must be an integer of at least 1; received True"),
    "hidden-sizes-string": Case(lambda c: _construct(hidden_sizes="5"), InputTypeError, r"hidden_sizes must be a list of positive integers, e.g. \[5, 3\]; received str '5'"),
    "hidden-activation-unknown": Case(lambda c: _construct(hidden_activation="tnah"), UnknownNameError, r"Unknown hidden activation 'tnah'. Expected one of: identity, relu, sigmoid, tanh."),
    "hidden-activation-softmax": Case(lambda c: _construct(hidden_activation="softmax"), SettingError, r"The hidden activation cannot be 'softmax'. Expected one of: identity"),
    "output-activation-unknown": Case(lambda c: _construct(output_activation="swish"), UnknownNameError, r"Unknown output activation 'swish'"),
    "loss-unknown": Case(lambda c: _construct(loss="hinge"), UnknownNameError, r"Unknown loss 'hinge'. Expected one of: binary_crossentropy, categorical_crossentropy, mse."),
    "loss-output-mismatch": Case(lambda c: _construct(loss="binary_crossentropy", output_activation="tanh"), SettingError, r"Loss 'binary_crossentropy' needs an output activation among sigmoid, softmax; received 'tanh'"),
    "softmax-one-unit": Case(lambda c: _construct(output_activation="softmax"), SettingError, r"A softmax output needs output_size >= 2"),
    "init-unknown": Case(lambda c: _construct(init="glorot"), UnknownNameError, r"Unknown initialiser 'glorot'. Expected one of: glorot_normal, glorot_uniform"),
    "init-not-a-string": Case(lambda c: _construct(init=0.1), InputTypeError, r"init must be a string naming an initialiser; received float 0.1"),
    "init-negative-std": Case(lambda c: _construct(init="normal:-1"), SettingError, r"'normal:STD' needs a positive, finite standard deviation; received 'normal:-1'"),
    "init-parameter": Case(lambda c: _construct(init="zeros:1"), SettingError, r"Initialiser 'zeros' takes no parameter; received 'zeros:1'"),
    "dtype-unknown": Case(lambda c: _construct(dtype="float16"), UnknownNameError, r"Unknown dtype 'float16'. Expected one of: float32, float64."),
    "dtype-object": Case(lambda c: _construct(dtype=np.dtype("float32")), UnknownNameError, r"Unknown dtype dtype\('float32'\). Expected one of: float32, float64."),
    "seed-negative": Case(lambda c: _construct(seed=-1), SettingError, r"seed must be an integer of at least 0, or None for fresh entropy; received -1"),
    "seed-string": Case(lambda c: _construct(seed="a"), SettingError, r"seed must be an integer of at least 0, or None for fresh entropy; received 'a'"),
    "backend-unknown": Case(lambda c: _construct(backend="tourch"), UnknownNameError, r"Unknown backend 'tourch'. Expected one of: numpy, torch, torch:cuda"),
    "backend-not-a-string": Case(lambda c: _construct(backend=3), InputTypeError, r"backend must be a string such as 'numpy' or 'torch:cuda'; received 3"),
    "backend-bad-device": Case(lambda c: _construct(backend="numpy:gpu"), UnknownNameError, r"Unknown backend 'numpy:gpu'"),
    # --- batches: shapes, ranks, dtypes, values, libraries, devices
    "x-wrong-width": Case(lambda c: c.net.backward(np.zeros((5, 3)), c.y), ShapeError, r"x must have shape \(n_samples, 2\) with n_samples >= 1; received shape \(5, 3\)"),
    "x-rank-1": Case(lambda c: c.net.forward(np.zeros(2)), ShapeError, r"x must have shape \(n_samples, 2\).*received shape \(2,\)"),
    "x-rank-3": Case(lambda c: c.net.forward(np.zeros((1, 5, 2))), ShapeError, r"received shape \(1, 5, 2\)"),
    "x-empty-batch": Case(lambda c: c.net.backward(np.zeros((0, 2)), np.zeros(0)), ShapeError, r"n_samples >= 1; received shape \(0, 2\)"),
    "x-ragged-list": Case(lambda c: c.net.forward([[0, 0], [1]]), ShapeError, r"x must be a rectangular nested list of numbers"),
    "x-strings": Case(lambda c: c.net.forward(np.array([["a", "b"]])), DTypeError, r"x must hold real numbers; received an array of dtype <U1"),
    "x-complex": Case(lambda c: c.net.forward(np.zeros((5, 2), complex)), DTypeError, r"x must hold real numbers; received an array of dtype complex128"),
    "x-not-an-array": Case(lambda c: c.net.forward("x"), InputTypeError, r"x must be an array of backend '.*', a NumPy array or a nested list; received str"),
    "x-dict": Case(lambda c: c.net.forward({"x": 1}), InputTypeError, r"received dict"),
    "x-nan": Case(lambda c: c.net.backward(_with(c.x, 2, 0, np.nan), c.y), NonFiniteError, r"x holds NaN or infinite values; expected finite numbers"),
    "x-inf-forward": Case(lambda c: c.net.forward(_with(c.x, 0, 1, -np.inf)), NonFiniteError, r"x holds NaN or infinite values"),
    "x-another-library": Case(lambda c: c.net.forward(_foreign_array(c)), BackendMismatchError, r"x is an array of (torch|array_api_strict), but this network runs on .* Pass .*or create the network with backend=", ("torch", "array_api_strict")),
    "x-another-device": Case(_other_device, DeviceMismatchError, r"x is on device .*device1.*, but this network runs on .*CPU_DEVICE.*Move it there first", ("array_api_strict",)),
    "y-wrong-length": Case(lambda c: c.net.backward(c.x, np.zeros(4)), ShapeError, r"y must have shape \(5, 1\) or \(5,\) to match x; received shape \(4,\)"),
    "y-wrong-width": Case(lambda c: c.net.backward(c.x, np.zeros((5, 2))), ShapeError, r"y must have shape \(5, 1\) or \(5,\) to match x; received shape \(5, 2\)"),
    "y-strings": Case(lambda c: c.net.backward(c.x, np.array(list("abcde"))), DTypeError, r"y must hold real numbers; received an array of dtype <U1"),
    "y-nan": Case(lambda c: c.net.backward(c.x, _with(c.y, 1, 0, np.nan)), NonFiniteError, r"y holds NaN or infinite values"),
    "y-inf-get-loss": Case(lambda c: c.net.get_loss(c.x, _with(c.y, 1, 0, np.inf)), NonFiniteError, r"y holds NaN or infinite values"),
    "bce-target-outside-0-1": Case(lambda c: NeuralNetwork(2, 1, [3], loss="binary_crossentropy", backend=c.net.backend.name).backward(c.x, _with(c.y, 0, 0, 2.0)), LabelError, r"binary_crossentropy needs targets in \[0, 1\].*received values from 0 to 2"),
    "bce-target-nan": Case(lambda c: NeuralNetwork(2, 1, [3], loss="binary_crossentropy", backend=c.net.backend.name).backward(c.x, _with(c.y, 0, 0, np.nan)), NonFiniteError, r"y holds NaN or infinite values"),
    "class-label-too-large": Case(lambda c: _softmax_net(c.net.backend.name).backward(c.x, np.array([0, 1, 2, 3, 0])), LabelError, r"Class labels must lie in 0\.\.2 for 3 outputs; received labels from 0 to 3"),
    "class-label-negative": Case(lambda c: _softmax_net(c.net.backend.name).backward(c.x, np.array([0, -1, 2, 1, 0])), LabelError, r"Class labels must lie in 0\.\.2 for 3 outputs; received labels from -1 to 2"),
    "cce-one-hot-negative": Case(lambda c: _softmax_net(c.net.backend.name).backward(c.x, -np.eye(3)[[0, 1, 2, 0, 1]]), LabelError, r"categorical_crossentropy needs targets in \[0, 1\]"),
    # --- gradients, learning rates, parameters
    "apply-before-backward": Case(lambda c: NeuralNetwork(2, 1, [5, 3], backend=c.net.backend.name).apply_gradients(0.1), StateError, r"No gradients to apply: call backward\(x, y\) before apply_gradients"),
    "lr-zero": Case(lambda c: c.net.apply_gradients(0), SettingError, LEARNING_RATE + "; received 0"),
    "lr-negative": Case(lambda c: c.net.apply_gradients(-0.1), SettingError, LEARNING_RATE + "; received -0.1"),
    "lr-nan": Case(lambda c: c.net.apply_gradients(float("nan")), SettingError, LEARNING_RATE + "; received nan"),
    "lr-inf": Case(lambda c: c.net.apply_gradients(float("inf")), SettingError, LEARNING_RATE + "; received inf"),
    "lr-string": Case(lambda c: c.net.apply_gradients("0.1"), SettingError, LEARNING_RATE + "; received '0.1'"),
    "lr-bool": Case(lambda c: c.net.apply_gradients(True), SettingError, LEARNING_RATE + "; received True"),
    "params-too-few": Case(lambda c: _set_params(c.net, c.net.params[:2]), ShapeError, r"params must be a list of 3 \(W, b\) pairs; received 2"),
    "params-wrong-shape": Case(lambda c: _set_params(c.net, _replace_layer(c.net, 2, (np.zeros((3, 2)), np.zeros(1)))), ShapeError, r"params\[2\]\[0\] \(W\) must have shape \(3, 1\); received shape \(3, 2\)"),
    "params-not-a-pair": Case(lambda c: _set_params(c.net, _replace_layer(c.net, 2, (np.zeros((3, 1)),))), ShapeError, r"params\[2\] must be a \(W, b\) pair"),
    "params-nan": Case(lambda c: _set_params(c.net, _replace_layer(c.net, 1, (np.full((5, 3), np.nan), np.zeros(3)))), NonFiniteError, r"params\[1\]\[0\] \(W\) holds NaN or infinite values"),
    "params-not-a-list": Case(lambda c: _set_params(c.net, 3), ShapeError, r"params must be a list of 3 \(W, b\) pairs; received int"),
    "core-y-would-broadcast": Case(lambda c: equations.loss_and_gradients(c.net.params, *_flat_targets(c), c.net.architecture), ShapeError, r"Y must have shape \(5, 1\), the network's output; received shape \(5,\)"),
    # --- training settings
    "epochs-zero": Case(lambda c: train(c.x, c.y, c.net, 0, 0.1), SettingError, r"epochs must be an integer of at least 1; received 0"),
    "epochs-float": Case(lambda c: train(c.x, c.y, c.net, 1.5, 0.1), SettingError, r"epochs must be an integer of at least 1; received 1.5"),
    "train-lr-negative": Case(lambda c: train(c.x, c.y, c.net, 5, -1), SettingError, LEARNING_RATE),
    "optimizer-unknown": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, optimizer="adamw"), UnknownNameError, r"Unknown optimizer 'adamw'. Expected one of: sgd, momentum, adam"),
    "optimizer-not-a-pair": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, optimizer=(len,)), InputTypeError, r"or an Optimizer\(init, update\) pair"),
    "batch-size-zero": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, batch_size=0), SettingError, r"batch_size must be an integer of at least 1, or None for full batches; received 0"),
    "batch-size-float": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, batch_size=2.5), SettingError, r"batch_size must be an integer of at least 1"),
    "tol-negative": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, tol=-1.0), SettingError, r"tol must be a finite number >= 0"),
    "tol-nan": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, tol=float("nan")), SettingError, r"tol must be a finite number >= 0"),
    "patience-zero": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, tol=0.1, patience=0), SettingError, r"patience must be an integer of at least 1"),
    "train-seed-string": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, seed="1"), SettingError, r"seed must be an integer of at least 0; received '1'"),
    "train-seed-negative": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, batch_size=2, seed=-1), SettingError, r"seed must be an integer of at least 0; received -1"),
    "train-not-a-network": Case(lambda c: train(c.x, c.y, "net", 5, 0.1), InputTypeError, r"net must be a NeuralNetwork; received str"),
    "callback-not-callable": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, callback=42), SettingError, r"callback must be a callable, or None \(no callback\); received 42"),
    "train-alpha-negative": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, alpha=-1.0), SettingError, r"alpha must be a finite number >= 0; received -1.0"),
    "train-schedule-unknown": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, schedule="cosine"), SettingError, r"schedule must be one of 'constant', 'invscaling', 'adaptive'; received 'cosine'"),
    "train-adaptive-without-tol": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, schedule="adaptive"), SettingError, r"schedule='adaptive' divides the learning rate on a plateau, which needs tol"),
    "train-state-not-a-state": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, state=[]), InputTypeError, r"state must be a TrainingState; received list"),
    "train-validation-fraction-one": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, validation_fraction=1.0), SettingError, r"validation_fraction must be a finite number in \(0, 1\) or None; received 1.0"),
    "train-validation-leaves-none": Case(lambda c: train(c.x, c.y, c.net, 5, 0.1, validation_fraction=0.99), SettingError, r"leaves none to train on"),
    "adam-beta1-one": Case(lambda c: Adam(beta1=1.0), SettingError, r"beta1 must be a finite number in \[0, 1\); received 1.0"),
    "adam-weight-decay-negative": Case(lambda c: Adam(weight_decay=-1), SettingError, r"weight_decay must be a finite number >= 0; received -1"),
    "momentum-beta-negative": Case(lambda c: Momentum(-0.5), SettingError, r"beta must be a finite number in \[0, 1\); received -0.5"),
    "train-x-nan": Case(lambda c: train(_with(c.x, 0, 0, np.nan), c.y, c.net, 5, 0.1), NonFiniteError, r"x holds NaN or infinite values"),
    # --- datasets, checkpoints, plots, checks, sweeps
    "dataset-unknown": Case(lambda c: load_dataset("mnist"), UnknownNameError, r"Unknown dataset 'mnist'. Expected one of: five-points, xor"),
    "dataset-fixed-size": Case(lambda c: load_dataset("five-points", n_samples=10), SettingError, r"The five-points dataset is fixed"),
    "dataset-one-sample": Case(lambda c: load_dataset("moons", n_samples=1), SettingError, r"n_samples must be an integer of at least 2; received 1"),
    "dataset-negative-noise": Case(lambda c: load_dataset("moons", noise=-1.0), SettingError, r"noise must be a finite number >= 0; received -1.0"),
    "checkpoint-missing": Case(lambda c: checkpoints.load(c.tmp / "none.npz"), MissingPathError, r"No checkpoint at .*none.npz.*there is no such file"),
    "checkpoint-a-directory": Case(lambda c: checkpoints.load(c.tmp), PathError, r"is a directory; expected a checkpoint file"),
    "checkpoint-not-one": Case(lambda c: checkpoints.load(_text_file(c.tmp)), CheckpointError, r"is not a checkpoint: it is a text file; expected a .npz file written by backprop_xp.save"),
    "checkpoint-truncated": Case(lambda c: checkpoints.load(_truncated(_saved(c))), CheckpointError, r"is not a readable checkpoint"),
    "checkpoint-other-architecture": Case(lambda c: checkpoints.load(_saved(c), expect=Architecture.build(2, 1, [4])), CheckpointError, r"holds a network of sizes 2-5-3-1 .*expected sizes 2-4-1"),
    "checkpoint-expect-not-architecture": Case(lambda c: checkpoints.read(_saved(c), expect="2-5-3-1"), InputTypeError, r"expect must be an Architecture \(net.architecture\); received str"),
    "checkpoint-info-not-json": Case(lambda c: checkpoints.save(c.net, c.tmp / "n.npz", info={"f": len}), InputTypeError, r"info must be JSON-serialisable"),
    "checkpoint-missing-directory": Case(lambda c: checkpoints.save(c.net, c.tmp / "missing" / "n.npz"), MissingPathError, r"Cannot write the checkpoint .*there is no directory .*missing"),
    "checkpoint-losses-2d": Case(lambda c: checkpoints.save(c.net, c.tmp / "n.npz", losses=np.zeros((2, 2))), ShapeError, r"losses must be 1-D; received shape \(2, 2\)"),
    "plot-not-a-network": Case(lambda c: plot_decision_boundary(c.x, c.y, "net"), InputTypeError, r"net must be a NeuralNetwork; received str"),
    "plot-three-inputs": Case(lambda c: plot_decision_boundary(c.x, c.y, NeuralNetwork(3, 1, [2])), ShapeError, r"the network needs 2 inputs; it has 3"),
    "plot-label-count": Case(lambda c: plot_decision_boundary(c.x, c.y[:3], c.net), ShapeError, r"y must hold one label per row of x \(5\); received 3"),
    "plot-losses-empty": Case(lambda c: plot_losses([]), ShapeError, r"losses must be a non-empty 1-D array; received shape \(0,\)"),
    "gradcheck-eps-negative": Case(lambda c: gradient_check(c.net, c.x, c.y, eps=-1), SettingError, r"eps must be a positive, finite number, or None for the dtype's default step; received -1"),
    "gradcheck-eps-inf": Case(lambda c: gradient_check(c.net, c.x, c.y, eps=float("inf")), SettingError, r"eps must be a positive, finite number, or None for the dtype's default step; received inf"),
    "gradcheck-no-entries": Case(lambda c: gradient_check(c.net, c.x, c.y, max_entries=0), SettingError, r"max_entries must be an integer of at least 1, or None for all; received 0"),
    "sweep-jobs-zero": Case(lambda c: run_sweep([], jobs=0), SettingError, r"jobs must be an integer of at least 1, or None for one per core; received 0"),
    "playground-lr-zero": Case(lambda c: check_config({"lr": 0}), SettingError, r"lr must be a finite number in \(0, 10\]; received 0"),
    "playground-too-wide": Case(lambda c: check_config({"hidden": [17]}), SettingError, r"hidden\[0\] must be an integer in \[1, 16\]; received 17"),
}

if importlib.util.find_spec("dask") is not None:
    from backprop_xp import dask_data

    API_CASES |= {
        "shards-missing": Case(lambda c: dask_data.load_shards(c.tmp / "none"), MissingPathError, r"Expected a directory of x-KEY.npy and y-KEY.npy shards; .*none.* is not one"),
        "shard-not-npy": Case(lambda c: dask_data.load_shards(_shards_with_a_bad_file(c.tmp)), DataError, r"x-0.npy' is not a readable .npy shard"),
        "shards-empty": Case(lambda c: dask_data.load_shards(c.tmp), DataError, r"Expected pairs of x-KEY.npy and y-KEY.npy shards in .*; received none"),
        "synthetic-no-rows": Case(lambda c: dask_data.synthetic(0), SettingError, r"n_samples must be an integer of at least 1; received 0"),
        "scheduler-not-an-address": Case(lambda c: dask_data.connect(8786), InputTypeError, r"scheduler must be an address such as 'tcp://host:8786'; received 8786"),
    }


def _shards_with_a_bad_file(folder):
    np.save(folder / "y-0.npy", np.zeros(3))
    (folder / "x-0.npy").write_text("not an array")
    return folder


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _snapshot(net):
    grads = net.grads
    return net.host_params(), None if grads is None else [tuple(np.array(net.backend.to_numpy(g)) for g in pair) for pair in grads]


def _assert_same(before, after):
    (params0, grads0), (params1, grads1) = before, after
    for pair0, pair1 in zip(params0, params1):
        for a, b in zip(pair0, pair1):
            np.testing.assert_array_equal(a, b)
    assert (grads0 is None) == (grads1 is None)
    for pair0, pair1 in zip(grads0 or [], grads1 or []):
        for a, b in zip(pair0, pair1):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", API_CASES.values(), ids=API_CASES.keys())
def test_bad_input_is_refused_clearly_and_changes_nothing(case, backend, tmp_path):
    for module in case.needs:
        pytest.importorskip(module)
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], dtype="float64", seed=0, backend=backend.name)
    net.backward(x, y)  # stored gradients, which a failing call must keep
    before = _snapshot(net)
    with pytest.raises(case.error) as caught:
        case.call(Context(net, x, y, tmp_path))
    assert re.search(case.message, str(caught.value)), f"{caught.value!r} does not match {case.message!r}"
    assert isinstance(caught.value, InputError)  # a user's mistake: the CLI's exit status 2
    _assert_same(before, _snapshot(net))


def test_every_error_type_is_exported_and_an_input_error_is_a_builtin_error_too():
    for name in ("BackendUnavailableError", "CheckpointError", "InputError", "TrainingDiverged"):
        assert getattr(backprop_xp, name) is getattr(errors, name)
    kinds = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.InputError)]
    assert len(kinds) > 10
    builtin = (ValueError, TypeError, OSError, RuntimeError, ImportError)
    for kind in kinds:  # so that `except ValueError` (or TypeError, OSError...) keeps working
        assert kind is errors.InputError or issubclass(kind, builtin), kind
    assert not issubclass(errors.TrainingDiverged, errors.InputError)


# --- the command line ----------------------------------------------------------

CLI_CASES: dict[str, tuple[list[str], str]] = {
    "no-command": ([], r"the following arguments are required: COMMAND \(see backprop-xp --help\)"),
    "unknown-command": (["frobnicate"], r"argument COMMAND: invalid choice: 'frobnicate'"),
    "unknown-option": (["train", "--bogus"], r"unrecognized arguments: --bogus"),
    "backend-unknown": (["train", "--backend", "tourch"], r"Unknown backend 'tourch'"),
    "dataset-unknown": (["train", "--dataset", "mnist"], r"argument --dataset: invalid choice: 'mnist' \(choose from 'five-points'"),
    "lr-negative": (["train", "--lr", "-1"], LEARNING_RATE),
    "lr-not-a-number": (["train", "--lr", "fast"], r"argument --lr: invalid float value: 'fast' \(see backprop-xp train --help\)"),
    "init-bad-std": (["train", "--init", "normal:x"], r"'normal:STD' needs a positive"),
    "init-unknown": (["train", "--init", "xavier"], r"Unknown initialiser 'xavier'"),
    "hidden-zero": (["train", "--hidden", "0"], r"--hidden \(its value 1\) must be an integer of at least 1; received 0"),
    "hidden-not-a-number": (["train", "--hidden", "five"], r"argument --hidden: invalid int value: 'five'"),
    "hidden-activation-softmax": (["train", "--hidden-activation", "softmax"], r"argument --hidden-activation: invalid choice: 'softmax'"),
    "dtype-unknown": (["train", "--dtype", "float16"], r"argument --dtype: invalid choice: 'float16'"),
    "epochs-zero": (["train", "--epochs", "0"], r"--epochs must be an integer of at least 1; received 0"),
    "batch-size-zero": (["train", "--batch-size", "0"], r"--batch-size must be an integer of at least 1; received 0\.$"),
    "loss-output-mismatch": (["train", "--loss", "categorical_crossentropy"], r"Loss 'categorical_crossentropy' needs an output activation among softmax; received 'sigmoid'\. Add --output-activation softmax"),
    "patience-without-tol": (["train", "--patience", "3"], r"--patience 3 needs --tol: early stopping is off without it"),
    "plot-missing": (["plot", "no-such-file.npz"], r"No checkpoint at 'no-such-file.npz'"),
    "plot-not-a-checkpoint": (["plot", "notes.npz"], r"'notes.npz' is not a checkpoint: it is a text file"),
    "sweep-seeds-zero": (["sweep", "--seeds", "0"], r"--seeds must be an integer of at least 1; received 0"),
    "sweep-jobs-zero": (["sweep", "--jobs", "0"], r"--jobs must be an integer of at least 1; received 0"),
    "sweep-lr-zero": (["sweep", "--lr", "0.1", "0"], LEARNING_RATE + "; received 0.0"),
    "gradcheck-eps-negative": (["gradcheck", "--eps", "-1"], r"--eps must be a positive, finite number; received -1.0"),
    "gradcheck-no-entries": (["gradcheck", "--max-entries", "-3"], r"--max-entries must be an integer of at least 1; received -3"),
    "gradcheck-tol-zero": (["gradcheck", "--tol", "0"], r"--tol must be a positive, finite number; received 0.0"),
    "misspelt-option": (["train", "--hiden", "4", "4"], r"unrecognized arguments: --hiden 4 4; did you mean --hidden\? \(see backprop-xp train --help\)"),
    "abbreviated-option": (["train", "--epoch", "10"], r"unrecognized arguments: --epoch 10; did you mean --epochs\?"),
    "option-of-another-command": (["plot", "notes.npz", "--epochs", "3"], r"--epochs is an option of train and sweep, not of plot \(see backprop-xp plot --help\)"),
    "misspelt-command": (["trian"], r"invalid choice: 'trian' .*; did you mean 'train'\? \(see backprop-xp --help\)"),
    "misspelt-choice": (["train", "--dataset", "mons"], r"; did you mean 'moons'\? \(see backprop-xp train --help\)"),
    "seed-negative": (["train", "--seed", "-1"], r"--seed must be an integer of at least 0; received -1"),
    "sweep-threshold-nan": (["sweep", "--threshold", "nan"], r"--threshold must be a positive, finite number; received nan"),
    "plot-a-directory": (["plot", "."], r"'.' is a directory; expected a checkpoint file"),
    "out-under-a-file": (["train", "--out", "notes.npz/run"], r"Cannot write to the output directory 'notes.npz/run'"),
    "data-and-dataset": (["train", "--data", "shards", "--dataset", "xor"], r"--dataset xor and --data/--generate both name the data"),
    "data-on-numpy": (["train", "--generate", "100", "--backend", "numpy"], r"--data, --generate and --scheduler run on the dask backend; received backend 'numpy'"),
    "playground-port": (["playground", "--port", "-1"], r"port must be an integer in \[0, 65535\]; received -1"),
    "playground-backend": (["playground", "--backend", "tourch"], r"Unknown backend 'tourch'"),
    "data-missing": (["train", "--data", "no-such-dir"], r"Expected a directory of x-KEY.npy and y-KEY.npy shards; 'no-such-dir' is not one"),
}
NEEDS_DASK = {"data-and-dataset", "data-on-numpy", "data-missing"}


@pytest.mark.parametrize("args, message", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_a_users_mistake_exits_2_with_one_line_before_anything_is_written(args, message, tmp_path, monkeypatch, capsys, request):
    if request.node.callspec.id in NEEDS_DASK:
        pytest.importorskip("dask")
    monkeypatch.chdir(tmp_path)
    _text_file(tmp_path)
    assert cli.main(args) == 2
    out, err = capsys.readouterr()
    assert err.startswith("backprop-xp: error: ") and err.count("\n") == 1, err
    assert re.search(message, err), f"{err!r} does not match {message!r}"
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.npz"]


def test_an_unknown_backend_in_the_environment_is_named_as_coming_from_it(monkeypatch, capsys):
    monkeypatch.setenv("BACKPROP_XP_BACKEND", "pytorch")
    assert cli.main(["gradcheck"]) == 2
    err = capsys.readouterr().err
    assert "Unknown backend 'pytorch'" in err and "environment variable BACKPROP_XP_BACKEND='pytorch'" in err
    assert cli.main(["backends"]) == 2  # the table, then the variable flagged
    out, err = capsys.readouterr()
    assert out.startswith("backend") and err.startswith("backprop-xp: error: BACKPROP_XP_BACKEND='pytorch' is not a backend name")
    monkeypatch.setenv("BACKPROP_XP_BACKEND", "numpy")
    assert cli.main(["backends"]) == 0 and "default backend: numpy (from BACKPROP_XP_BACKEND)" in capsys.readouterr().out


def test_a_failure_that_is_not_the_users_exits_1_with_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise KeyError("internal")

    monkeypatch.setitem(cli.COMMANDS, "backends", broken)
    assert cli.main(["backends"]) == 1
    out, err = capsys.readouterr()
    assert err == (
        "backprop-xp: failed: KeyError: 'internal'. This is not a mistake in the command line; "
        "rerun with --debug for the traceback.\n"
    )
    for argv in (["--debug", "backends"], ["backends", "--debug"]):
        with pytest.raises(KeyError, match="internal"):
            cli.main(argv)


def test_an_interrupt_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "backends", interrupted)
    assert cli.main(["backends"]) == 130
    assert capsys.readouterr().err == "backprop-xp: interrupted\n"


def test_debug_shows_the_traceback_of_a_users_mistake_too():
    with pytest.raises(SettingError, match="epochs must be an integer of at least 1"):
        cli.main(["train", "--epochs", "0", "--debug"])
    with pytest.raises(errors.UsageError, match="invalid float value"):
        cli.main(["--debug", "train", "--lr", "fast"])


def test_a_missing_backend_is_a_users_mistake(monkeypatch, capsys):
    import backprop_xp.backends as backends

    def unavailable(name):
        raise BackendUnavailableError(f"Backend {name!r} needs cupy, which is not installed here.")

    monkeypatch.setattr(backends, "_load", unavailable)
    assert cli.main(["train", "--backend", "cupy"]) == 2
    assert capsys.readouterr().err == "backprop-xp: error: Backend 'cupy' needs cupy, which is not installed here.\n"
