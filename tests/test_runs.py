"""Runs that keep what they learnt: a diverged or interrupted run writes its
loss curve so far, its metrics with the reason and its last finite weights; a
stalled run is warned about; a run directory is never silently replaced; an
interrupted sweep ends its workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from backprop_xp import checkpoints, cli
from backprop_xp.experiment import RunConfig, run

from conftest import TEST_ENV, selected_backends

# These test the command's own machinery, the same on every backend: one session runs them.
numpy_session_only = pytest.mark.skipif(
    bool(os.environ.get(TEST_ENV)) and selected_backends() != ("numpy",), reason="run in the numpy session only"
)
pytestmark = numpy_session_only


def test_a_diverged_run_writes_its_curve_metrics_and_last_finite_weights(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--hidden-activation", "relu", "--output-activation", "identity", "--lr", "5", "--out", str(out)]
    assert cli.main(args) == 1
    stdout, stderr = capsys.readouterr()
    assert stderr.startswith("backprop-xp: Training diverged at epoch 21") and stderr.count("\n") == 1
    assert "five-points: diverged; kept the weights of epoch 20's loss" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "decision_boundary.png", "loss.png", "metrics.json"]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stopped"] == "diverged" and summary["epochs_run"] == 20
    assert summary["reason"].startswith("Training diverged at epoch 21")
    saved = checkpoints.read(out / "checkpoint.npz")
    assert saved.losses.size == 20 and np.isfinite(saved.losses).all()
    assert all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in saved.network("numpy").host_params())


def test_an_interrupted_run_keeps_what_it_learnt(tmp_path, monkeypatch, capsys):
    from backprop_xp import progress

    def interrupt_at_epoch_50(self, epoch, loss):
        if epoch == 50:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.ProgressBar, "update", interrupt_at_epoch_50)
    assert cli.main(["train", "--out", str(tmp_path)]) == 130
    stdout, stderr = capsys.readouterr()
    assert stderr == "backprop-xp: interrupted\n" and "five-points: interrupted; kept" in stdout
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["epochs_run"] == 50
    assert summary["reason"] == "interrupted (Ctrl-C) after 50 of 2500 epochs"
    assert checkpoints.read(tmp_path / "checkpoint.npz").losses.size == 50


def test_the_partial_result_is_on_the_exception_for_python_users():
    def stop(epoch, loss):
        if epoch == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        run(RunConfig(epochs=100), callback=stop)
    partial = caught.value.partial
    assert partial.stopped == "interrupted" and partial.epochs_run == 7  # the callback of epoch 7 had its loss


def test_a_saturated_run_is_warned_about(tmp_path, capsys):
    assert cli.main(["train", "--lr", "100", "--epochs", "300", "--out", str(tmp_path)]) == 0
    _, stderr = capsys.readouterr()
    assert stderr.startswith("backprop-xp: warning: the loss has not moved for the last 30 epochs (0.200000)")
    assert "the outputs have saturated" in stderr and "try a smaller --lr (this run's: 100)" in stderr
    assert "outputs have saturated" in json.loads((tmp_path / "metrics.json").read_text())["warnings"][0]


def test_a_healthy_run_has_no_warning(tmp_path, capsys):
    assert cli.main(["train", "--epochs", "300", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    assert "warnings" not in json.loads((tmp_path / "metrics.json").read_text())


def test_a_run_directory_is_replaced_only_with_overwrite(tmp_path, capsys):
    args = ["train", "--epochs", "20", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    before = (tmp_path / "metrics.json").read_text()
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "already holds a run (metrics.json, checkpoint.npz)" in err and "Add --overwrite" in err
    assert (tmp_path / "metrics.json").read_text() == before  # refused before anything was written
    assert cli.main([*args, "--overwrite", "--seed", "1"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["seed"] == 1


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(c) for c in file.read().split()]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"), reason="needs Linux /proc")
def test_sigint_to_the_sweeps_parent_alone_ends_every_worker(tmp_path):
    # A new session: the signal goes to the parent only, as `timeout -s INT` sends it,
    # and the workers (busy with runs far too long to finish) never see it.
    sweep = subprocess.Popen(
        # Adam: runs that cannot train as one in-process population go to the worker pool.
        [sys.executable, "-m", "backprop_xp", "sweep", "--optimizer", "adam", "--epochs", "1000000", "--jobs", "2",
         "--out", str(tmp_path)],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if k != "BACKPROP_XP_BACKEND"},
    )
    try:
        deadline = time.monotonic() + 120
        while len(_children(sweep.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # the workers import and start training
        workers = _children(sweep.pid)
        assert len(workers) >= 2, workers
        sweep.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, stderr = sweep.communicate(timeout=20)
        assert time.monotonic() - start < 5
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 130 and stderr == "backprop-xp: interrupted\n"
    time.sleep(0.5)
    assert [w for w in workers if _running(w)] == []


def test_the_figure_worker_draws_what_the_parent_draws(tmp_path):
    # sweep with two cores draws the boundaries in a second process (sweep.FigureWorker): the same file.
    from backprop_xp.sweep import FigureWorker, grid, run_sweep, write_sweep

    runs = run_sweep(grid(RunConfig(epochs=30, dtype="float64"), [(3,)], [0.5], ["glorot_uniform", "normal:1"], [0]),
                     jobs=1)
    here = write_sweep(runs, tmp_path / "here", threshold=0.05)
    with FigureWorker() as worker:
        there = write_sweep(runs, tmp_path / "there", threshold=0.05, worker=worker)
    assert [p.name for p in here] == [p.name for p in there]
    for a, b in zip(here, there):
        assert a.read_bytes() == b.read_bytes(), a.name
