"""The backprop-xp command, run as a user runs it: in a subprocess, in a fresh directory."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import pty
import re
import shutil
import subprocess
import sys

import pytest

from backprop_xp import backends, checkpoints
from backprop_xp.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from backprop_xp.architecture import DTYPES
from backprop_xp.cli import build_parser
from backprop_xp.datasets import DATASETS
from backprop_xp.initializers import INITIALIZERS
from backprop_xp.losses import LOSSES
from backprop_xp.optimizers import OPTIMIZERS

from conftest import assert_image

SUMMARY = re.compile(
    r"^(?P<dataset>\S+): NeuralNetwork\((?P<sizes>[\d-]+), .*backend='(?P<backend>[^']+)'\) trained "
    r"(?P<epochs>\d+) epochs(?P<early> \(early stopping\))? in [\d.]+ s on (?P<device>\S+): "
    r"final loss (?P<loss>[\d.]+), train accuracy (?P<accuracy>[\d.]+)(, test accuracy (?P<test>[\d.]+))?; "
    r"wrote (?P<files>.+)$"
)


def _environment(**env: str) -> dict[str, str]:
    """This process's environment for a command run elsewhere: no backend chosen, ``PYTHONPATH`` made absolute
    (the commands run in fresh directories, where ``PYTHONPATH=.`` would name the wrong one)."""
    environment = {k: v for k, v in os.environ.items() if k != backends.ENV_VAR}
    if environment.get("PYTHONPATH"):
        environment["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(entry) for entry in environment["PYTHONPATH"].split(os.pathsep) if entry)
    return environment | env


def cli(*args: str, cwd=None, **env: str) -> subprocess.CompletedProcess:
    environment = _environment(**env)
    return subprocess.run(
        [sys.executable, "-m", "backprop_xp", *args], capture_output=True, text=True, env=environment,
        timeout=600, cwd=cwd,
    )


def summary(result: subprocess.CompletedProcess) -> re.Match:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # no progress bar when stdout is not a terminal
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    return match


def test_train_with_no_options_reproduces_the_lab_and_writes_its_outputs(tmp_path):
    result = summary(cli("train", cwd=tmp_path))
    assert result["dataset"] == "five-points" and result["sizes"] == "2-5-3-1"
    assert result["backend"] == "numpy" and result["epochs"] == "2500" and not result["early"]
    assert float(result["loss"]) < 2e-3 and float(result["accuracy"]) == 1.0
    out = tmp_path / "runs" / "five-points"
    assert result["files"].split(", ") == [
        str(p) for p in ("runs/five-points/loss.png", "runs/five-points/decision_boundary.png",
                         "runs/five-points/metrics.json", "runs/five-points/checkpoint.npz")
    ]
    assert_image(out / "loss.png", (500, 400))
    assert_image(out / "decision_boundary.png", (550, 450))

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final_loss"] == pytest.approx(float(result["loss"]), abs=1e-6)
    assert metrics["train_accuracy"] == 1.0 and metrics["epochs_run"] == 2500 and metrics["stopped"] == "completed"
    assert metrics["backend"] == "numpy" and metrics["device"] == "cpu" and metrics["wall_time_s"] > 0
    assert {"python", "backprop-xp", "numpy", "array-api-compat"} <= set(metrics["versions"])
    assert metrics["config"]["lr"] == 0.25 and metrics["config"]["hidden"] == [5, 3]

    saved = checkpoints.read(out / "checkpoint.npz")
    assert saved.architecture.sizes == (2, 5, 3, 1) and saved.losses.shape == (2500,)
    assert saved.losses[-1] == pytest.approx(metrics["final_loss"])


def test_options_reach_the_run(tmp_path):
    result = summary(cli(
        "train", "--dataset", "moons", "--hidden", "8", "--hidden-activation", "relu", "--init", "he_normal",
        "--optimizer", "momentum", "--lr", "0.05", "--epochs", "30", "--batch-size", "50", "--seed", "3",
        "--dtype", "float64", "--out", str(tmp_path / "moons"), "--quiet",
    ))
    assert result["dataset"] == "moons" and result["sizes"] == "2-8-1" and result["epochs"] == "30"
    config = json.loads((tmp_path / "moons" / "metrics.json").read_text())["config"]
    assert config | {
        "hidden": [8], "hidden_activation": "relu", "init": "he_normal", "optimizer": "momentum", "lr": 0.05,
        "batch_size": 50, "seed": 3, "dtype": "float64",
    } == config


def test_the_backend_comes_from_the_environment(tmp_path):
    pytest.importorskip("array_api_strict")
    result = summary(cli("train", "--epochs", "20", "--out", str(tmp_path), **{backends.ENV_VAR: "array_api_strict"}))
    assert result["backend"] == "array_api_strict"


def test_softmax_trains_one_unit_per_class(tmp_path):
    result = summary(cli(
        "train", "--output-activation", "softmax", "--loss", "categorical_crossentropy", "--epochs", "1500",
        "--out", str(tmp_path),
    ))
    assert result["sizes"] == "2-5-3-2" and float(result["accuracy"]) == 1.0
    assert_image(tmp_path / "decision_boundary.png", (550, 450))


def test_digits_report_held_out_accuracy_and_draw_no_boundary(tmp_path):
    pytest.importorskip("sklearn")
    result = summary(cli(
        "train", "--dataset", "digits", "--hidden", "32", "--output-activation", "softmax", "--loss",
        "categorical_crossentropy", "--optimizer", "adam", "--lr", "0.01", "--epochs", "20", "--batch-size", "64",
        "--out", str(tmp_path),
    ))
    assert result["sizes"] == "64-32-10" and float(result["test"]) >= 0.95
    assert not (tmp_path / "decision_boundary.png").exists()
    assert_image(tmp_path / "loss.png", (500, 400))


def test_early_stopping_ends_the_run_and_says_so(tmp_path):
    result = summary(cli("train", "--tol", "1e-3", "--patience", "5", "--out", str(tmp_path)))
    assert result["early"] and int(result["epochs"]) < 2500
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["stopped"] == "early stopping" and metrics["epochs_run"] == int(result["epochs"])


def test_divergence_stops_training_naming_the_epoch_and_learning_rate(tmp_path):
    result = cli(
        "train", "--output-activation", "identity", "--hidden-activation", "relu", "--lr", "1e12",
        "--out", str(tmp_path),
    )
    assert result.returncode == 1
    assert re.search(r"backprop-xp: Training diverged at epoch \d+: the loss became (nan|inf) with learning rate 1e\+12",
                     result.stderr), result.stderr
    assert result.stderr.count("\n") == 1  # one line: no NumPy overflow warnings before it
    assert "Traceback" not in result.stderr
    # What it learnt up to there is kept (tests/test_runs.py checks the files).
    assert json.loads((tmp_path / "metrics.json").read_text())["stopped"] == "diverged"
    assert result.stdout.startswith("five-points: diverged; kept the weights of epoch")


def test_progress_bar_on_a_terminal_only(tmp_path):
    def on_terminal(*args: str) -> str:
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "backprop_xp", "train", "--epochs", "3000", "--out", str(tmp_path), "--overwrite", *args],
            stdout=follower, stderr=subprocess.PIPE, env=_environment(),
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=300) == 0, process.stderr.read()
        os.close(leader)
        return b"".join(chunks).decode()

    shown = on_terminal()
    assert re.search(r"\repoch 3000/3000 \[#{30}\] loss 0\.\d{6}", shown), shown
    assert shown.rstrip().splitlines()[-1].startswith("five-points: NeuralNetwork(")
    quiet = on_terminal("--quiet")
    assert "\repoch" not in quiet and len(quiet.strip().splitlines()) == 1


def test_plot_redraws_a_checkpoint_on_another_backend(tmp_path):
    summary(cli("train", "--dataset", "circles", "--hidden", "8", "--epochs", "50", "--out", str(tmp_path / "run")))
    backend = "array_api_strict" if importlib.util.find_spec("array_api_strict") else "numpy"
    result = cli("plot", str(tmp_path / "run" / "checkpoint.npz"), "--out", str(tmp_path / "again"), "--backend", backend)
    assert result.returncode == 0, result.stderr
    assert f"backend='{backend}'" in result.stdout
    assert_image(tmp_path / "again" / "loss.png", (500, 400))
    assert_image(tmp_path / "again" / "decision_boundary.png", (550, 450))


def test_sweep_writes_the_csv_and_both_figures(tmp_path):
    result = cli(
        "sweep", "--hidden", "3", "4,4", "--lr", "0.5", "--init", "glorot_uniform", "normal:1", "--seeds", "2",
        "--epochs", "300", "--threshold", "0.05", "--jobs", "2", "--out", str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "8 runs; wrote" in result.stdout
    with open(tmp_path / "sweep.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8
    assert {(r["hidden"], r["init"], r["seed"]) for r in rows} == {
        (h, i, s) for h in ("3", "4-4") for i in ("glorot_uniform", "normal:1") for s in ("0", "1")
    }
    for row in rows:
        assert float(row["final_loss"]) > 0 and int(row["epochs_run"]) == 300
        if row["epochs_to_0.05"]:
            assert 1 <= int(row["epochs_to_0.05"]) <= 300
        assert 0 <= float(row["train_accuracy"]) <= 1 and row["test_accuracy"] == ""  # five points: no held-out part
    assert_image(tmp_path / "sweep_boundaries.png", (1260, 720))  # 4 panels: 3 columns, 2 rows
    assert_image(tmp_path / "sweep_losses.png", (800, 500))


def test_gradcheck_prints_a_table_per_layer_and_passes():
    result = cli("gradcheck", "--hidden", "4", "3", "--loss", "binary_crossentropy")
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^(\d)\s+(W|b)\s+(\S+)\s+\d+\s+\S+\s+(\S+)\s+ok$", result.stdout, flags=re.M)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "W", "2x4"), ("1", "b", "4"), ("2", "W", "4x3"), ("2", "b", "3"), ("3", "W", "3x1"), ("3", "b", "1"),
    ]
    assert all(float(r[3]) < 1e-6 for r in rows)
    assert "agree with finite differences" in result.stdout


def test_backends_lists_every_backend():
    result = cli("backends")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["backend", "version", "devices", "names", "status"]
    listed = [line.split()[0] for line in lines[1:-1]]
    assert lines[-1] == "default backend: numpy"  # cli() unsets BACKPROP_XP_BACKEND
    assert listed == list(backends._LIBRARIES)
    assert re.search(r"^numpy\s+\d+\.\d+\S*\s+cpu\s+numpy\s+ok$", result.stdout, flags=re.M)


def test_every_table_entry_is_reachable_from_the_cli():
    parser = build_parser()
    for command in ("train", "sweep", "gradcheck"):
        for option, names in [
            ("--hidden-activation", HIDDEN_ACTIVATIONS),
            ("--output-activation", OUTPUT_ACTIVATIONS),
            ("--loss", tuple(LOSSES)),
            ("--dtype", DTYPES),
            ("--dataset", DATASETS),
            *([("--optimizer", tuple(OPTIMIZERS))] if command != "gradcheck" else []),
        ]:
            for name in names:
                args = parser.parse_args([command, option, name])
                assert getattr(args, option[2:].replace("-", "_")) == name
    help_text = subprocess.run(
        [sys.executable, "-m", "backprop_xp", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in (*INITIALIZERS, *backends.NAME_FORMS):
        assert name in help_text, name


@pytest.mark.parametrize(("argv", "jobs", "given", "expected"), [
    (None, "2", None, "1"),  # the program, one process per core: one thread each
    (None, "2", "3", "3"),  # the caller's choice stands
    (None, "1", None, None),  # one process: its threads are left as they are
    (["sweep", "--jobs", "2"], "2", None, None),  # called from Python: the caller's process
])
def test_a_sweep_run_as_the_program_runs_one_openmp_thread_per_process(monkeypatch, argv, jobs, given, expected):
    from backprop_xp import cli as command

    monkeypatch.setattr(sys, "argv", ["backprop-xp", "sweep", "--jobs", jobs])
    monkeypatch.setitem(command.COMMANDS, "sweep", lambda args: 0)  # the setting only, no sweep
    monkeypatch.delenv("JAX_ENABLE_X64", raising=False)  # main() sets it; restored afterwards
    if given is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", given)
    assert command.main(argv) == 0
    assert os.environ.get("OMP_NUM_THREADS") == expected


def test_installed_console_script_runs():
    script = shutil.which("backprop-xp")
    if script is None:
        pytest.skip("backprop-xp is not installed on PATH (the nox sessions install it)")
    result = subprocess.run([script, "backends"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backend")


def test_gradcheck_exits_1_when_the_gradients_disagree():
    # A step of 1 is far too coarse for central differences: the check must say so, not pass.
    result = cli("gradcheck", "--eps", "1")
    assert result.returncode == 1
    assert "TOO LARGE" in result.stdout and "DISAGREE with finite differences" in result.stdout


def test_gradcheck_with_relu_passes_and_names_the_kink_entries():
    # The lab's points with relu: the origin's pre-activations sit on the kink (biases start at 0).
    result = cli("gradcheck", "--hidden-activation", "relu")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TOO LARGE" not in result.stdout and "at a kink" in result.stdout
    assert "agree with finite differences away from relu's kink" in result.stdout
    assert "Only those disagree: backprop is right." in result.stdout
    strict = cli("gradcheck", "--hidden-activation", "relu", "--tol", "1e-15")
    assert strict.returncode == 1 and "(tolerance 1e-15)" in strict.stdout


def test_plot_draws_the_loss_curve_of_a_checkpoint_saved_from_python(tmp_path):
    from backprop_xp import NeuralNetwork, five_points, save, train

    x, y = five_points()
    net, losses = train(x, y, NeuralNetwork(2, 1, [3], seed=0), 40, 0.5)
    save(net, tmp_path / "api.npz", losses=losses)
    result = cli("plot", str(tmp_path / "api.npz"))
    assert result.returncode == 0, result.stderr
    assert "no decision boundary: the checkpoint does not say which data it learnt" in result.stdout
    assert_image(tmp_path / "loss.png", (500, 400))
    save(net, tmp_path / "bare.npz")
    result = cli("plot", str(tmp_path / "bare.npz"))
    assert result.returncode == 2 and "nothing to draw" in result.stderr


def test_a_sweep_with_a_diverging_configuration_reports_it(tmp_path):
    result = cli(
        "sweep", "--hidden", "3", "--hidden-activation", "relu", "--output-activation", "identity",
        "--lr", "0.1", "1e6", "--init", "glorot_uniform", "--seeds", "1", "--epochs", "50", "--jobs", "1",
        "--out", str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "sweep.csv") as file:
        rows = {row["lr"]: row for row in csv.DictReader(file)}
    assert rows["1000000.0"]["final_loss"] == "nan" and int(rows["1000000.0"]["epochs_run"]) < 50
    assert float(rows["0.1"]["final_loss"]) > 0 and rows["0.1"]["epochs_run"] == "50"
    assert_image(tmp_path / "sweep_boundaries.png", (840, 360))
    assert_image(tmp_path / "sweep_losses.png", (800, 500))


def test_a_sweep_on_data_that_is_not_2d_writes_no_boundaries(tmp_path):
    pytest.importorskip("sklearn")
    result = cli(
        "sweep", "--dataset", "digits", "--hidden", "8", "--output-activation", "softmax", "--loss",
        "categorical_crossentropy", "--lr", "0.5", "--init", "glorot_uniform", "--seeds", "1", "--epochs", "3",
        "--out", str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep_losses.png"]


def test_every_option_shows_its_default_in_help():
    parser = build_parser()
    for name, command in parser.commands.items():
        for action in command._actions:
            if not action.option_strings or action.help is argparse.SUPPRESS or action.nargs == 0:
                continue  # positionals, --help, and flags (off unless given)
            assert "default" in (action.help or ""), f"{name} {action.option_strings[0]} hides its default"


def test_the_dask_warning_is_for_small_data_in_memory_only():
    from backprop_xp.datasets import load_dataset
    from backprop_xp.experiment import RunConfig, small_for_dask

    five = load_dataset("five-points")
    assert "5 samples of 2 features on the dask backend" in small_for_dask(RunConfig(backend="dask"), five)
    assert small_for_dask(RunConfig(backend="numpy"), five) is None
    assert small_for_dask(RunConfig(backend="dask", generate=10), five) is None  # data in chunks: Dask's job
