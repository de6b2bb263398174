"""Determinism: one seed, backend and device give the same bits from run to
run: the initial weights, a training run's losses and parameters (sgd and
Adam, full batches and seeded minibatches), Dask's results whatever order its
threads run the tasks in, and the command's metrics and checkpoint in two
processes. The initial weights are also the same bits on every backend.

The GPU backends promise no bitwise repeats (docs/determinism.md): there the
runs are compared to a tolerance instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_xp import NeuralNetwork, checkpoints, train
from backprop_xp.architecture import DTYPES
from backprop_xp.initializers import INITIALIZERS, initial_params

#: How far two runs on a GPU may differ, relative to the values' norm.
GPU_RTOL = {"float32": 1e-5, "float64": 1e-12}


def assert_same_bits(backend, got, expected, what: str, dtype: str | None = None) -> None:
    """``got`` and ``expected`` (NumPy arrays) are the same bits; on a GPU, close."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, f"{what}: {got.dtype}{got.shape}"
    if backend.on_gpu:  # a GPU repeats only to a tolerance
        error = np.linalg.norm(got - expected)
        assert error <= GPU_RTOL[dtype or got.dtype.name] * np.linalg.norm(expected), f"{what}: {error:.3e}"
    else:
        assert got.tobytes() == expected.tobytes(), f"{what} differs in {np.sum(got != expected)} entries"


@given(
    init=st.sampled_from([*INITIALIZERS, "normal:0.3"]),
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(DTYPES),
)
def test_one_seed_gives_the_same_initial_weights_on_every_backend(backend, init, sizes, seed, dtype):
    # Drawn on the host and copied to the device: exact on a GPU too.
    host = initial_params(sizes, init, seed, dtype)
    net = NeuralNetwork(
        sizes[0], sizes[-1], sizes[1:-1], init=init, seed=seed, dtype=dtype, backend=backend.name
    )
    for layer, ((W, b), (hW, hb)) in enumerate(zip(net.host_params(), host)):
        for name, got, expected in (("W", W, hW), ("b", b, hb)):
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), f"layer {layer} {name}"


def classes(n_samples: int, n_features: int, seed: int = 0):
    """Three classes of points (integer labels), from a seeded generator."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, n_features))
    return x, np.argmax(x[:, :3] + 0.5 * rng.normal(size=(n_samples, 3)), axis=1)


def training_run(backend, dtype, optimizer, batch_size, x, y, hidden):
    net = NeuralNetwork(
        x.shape[1], 3, hidden, output_activation="softmax", loss="categorical_crossentropy", seed=7,
        dtype=dtype, backend=backend.name,
    )
    _, losses = train(x, y, net, 4, 0.05, optimizer=optimizer, batch_size=batch_size, seed=11)
    return np.array(backend.to_numpy(losses)), net.host_params()


@pytest.mark.parametrize(
    "optimizer, batch_size, n_samples, hidden, dtype",
    [
        ("sgd", None, 64, [8, 5], "float64"),
        ("adam", 16, 64, [8, 5], "float32"),
        # Large enough that torch, OpenBLAS and XLA split reductions and matmuls among threads.
        ("adam", 1024, 2048, [64], "float32"),
    ],
)
def test_training_repeats_bit_for_bit(backend, optimizer, batch_size, n_samples, hidden, dtype):
    x, y = classes(n_samples, 16)
    first, again = (training_run(backend, dtype, optimizer, batch_size, x, y, hidden) for _ in range(2))
    assert_same_bits(backend, again[0], first[0], "losses", dtype)
    for layer, (pair, expected) in enumerate(zip(again[1], first[1])):
        for name, got, want in zip(("W", "b"), pair, expected):
            assert_same_bits(backend, got, want, f"layer {layer} {name}", dtype)


def test_dask_gives_the_same_bits_whatever_order_its_threads_run_the_tasks_in():
    # A reduction over chunks is a fixed tree of tasks in the graph; the
    # scheduler decides only when each runs, never what it adds to what.
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    x, y = classes(3000, 8, seed=2)
    X, Y = da.from_array(x, chunks=(230, -1)), da.from_array(y, chunks=230)  # 14 chunks, the last short
    runs = []
    threads = {"scheduler": "threads", "num_workers": 4}
    for scheduler in ({"scheduler": "synchronous"}, threads, threads):
        net = NeuralNetwork(8, 3, [6], output_activation="softmax", loss="categorical_crossentropy", seed=3,
                            dtype="float64", backend="dask")
        with dask.config.set(scheduler):
            _, losses = train(X, Y, net, 4, 0.2, optimizer="adam")
        runs.append([np.asarray(losses), *(a for pair in net.host_params() for a in pair)])
    for run in runs[1:]:
        for got, expected in zip(run, runs[0]):
            assert got.tobytes() == expected.tobytes()


def test_the_command_writes_the_same_metrics_and_checkpoint_in_two_processes(backend, tmp_path):
    # Two processes at once, with different hash seeds: nothing may hang on
    # the order of a set or dict, or on the other process's load. Full batches
    # (minibatches are checked above): JAX compiles every shape anew in each process.
    args = ["train", "--optimizer", "adam", "--lr", "0.05", "--epochs", "30", "--seed", "5",
            "--backend", backend.name, "--quiet"]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "backprop_xp", *args, "--out", str(tmp_path / str(i))],
            env=os.environ | {"PYTHONHASHSEED": str(i)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in (1, 2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
    metrics = [json.loads((tmp_path / str(i) / "metrics.json").read_text()) for i in (1, 2)]
    for m in metrics:
        del m["wall_time_s"]
    saved = [checkpoints.read(tmp_path / str(i) / "checkpoint.npz") for i in (1, 2)]
    dtype = saved[0].dtype
    if backend.on_gpu:  # a GPU repeats only to a tolerance
        for key in ("final_loss", "train_accuracy"):
            assert metrics[1].pop(key) == pytest.approx(metrics[0].pop(key), rel=GPU_RTOL[dtype])
    assert metrics[1] == metrics[0]
    assert saved[1].info == saved[0].info
    assert_same_bits(backend, saved[1].losses, saved[0].losses, "losses", dtype)
    for layer, (pair, expected) in enumerate(zip(saved[1].params, saved[0].params)):
        for name, got, want in zip(("W", "b"), pair, expected):
            assert_same_bits(backend, got, want, f"layer {layer} {name}", dtype)
