"""The backprop-xp command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from backprop_xp import backends
from backprop_xp.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from backprop_xp.architecture import DTYPES
from backprop_xp.cli import build_parser
from backprop_xp.initializers import INITIALIZERS
from backprop_xp.losses import LOSSES


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != backends.ENV_VAR} | env
    return subprocess.run(
        [sys.executable, "-m", "backprop_xp", *args], capture_output=True, text=True, env=environment, timeout=300
    )


def test_train_defaults_to_the_lab_on_numpy_and_prints_a_falling_loss():
    result = cli("train")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("NeuralNetwork(2-5-3-1, activations=tanh/tanh/sigmoid, loss='mse', dtype='float32', backend='numpy')")
    assert "lr 0.25, 2500 epochs, seed 0" in out
    losses = [float(v) for v in re.findall(r"^epoch\s+\d+\s+loss ([0-9.]+)$", out, flags=re.M)]
    assert len(losses) == 11  # epoch 1, then every 250
    assert losses[-1] < 2e-3 < losses[0]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert re.search(r"^final loss 0\.00\d+ after 2500 epochs in [0-9.]+ s$", out, flags=re.M)


def test_train_takes_the_backend_from_the_environment():
    pytest.importorskip("array_api_strict")
    result = cli("train", "--epochs", "20", "--print-every", "10", **{backends.ENV_VAR: "array_api_strict"})
    assert result.returncode == 0, result.stderr
    assert "backend='array_api_strict'" in result.stdout


def test_train_options_reach_the_network():
    result = cli(
        "train", "--hidden", "4", "--hidden-activation", "relu", "--init", "he_normal", "--dtype", "float64",
        "--epochs", "30", "--lr", "0.1", "--seed", "3", "--print-every", "10",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NeuralNetwork(2-4-1, activations=relu/sigmoid, loss='mse', dtype='float64'")
    assert "lr 0.1, 30 epochs, seed 3" in result.stdout
    assert len(re.findall(r"^epoch", result.stdout, flags=re.M)) == 4  # 1, 10, 20, 30


def test_softmax_and_categorical_cross_entropy_train_one_unit_per_class():
    result = cli(
        "train", "--output-activation", "softmax", "--loss", "categorical_crossentropy", "--epochs", "500",
        "--print-every", "100",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NeuralNetwork(2-5-3-2, activations=tanh/tanh/softmax, loss='categorical_crossentropy'")
    losses = [float(v) for v in re.findall(r"^epoch\s+\d+\s+loss ([0-9.]+)$", result.stdout, flags=re.M)]
    assert losses[-1] < losses[0] / 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--backend", "tourch"], "backprop-xp: error: Unknown backend 'tourch'"),
        (["train", "--lr", "-1", "--epochs", "5"], "backprop-xp: error: The learning rate must be a positive, finite number"),
        (["train", "--init", "normal:x"], "backprop-xp: error: 'normal:STD' needs a positive"),
        (["train", "--hidden", "0"], "backprop-xp: error: hidden_sizes[0] must be a positive integer; received 0"),
        (["train", "--loss", "categorical_crossentropy"],
         "backprop-xp: error: Loss 'categorical_crossentropy' needs an output activation among softmax; received 'sigmoid'"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args, message):
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_backends_lists_every_backend():
    result = cli("backends")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["backend", "version", "devices", "names", "status"]
    listed = [line.split()[0] for line in lines[1:]]
    assert listed == list(backends._LIBRARIES)
    assert re.search(r"^numpy\s+\d+\.\d+\S*\s+cpu\s+numpy\s+ok$", result.stdout, flags=re.M)


def test_every_table_entry_is_reachable_from_the_cli():
    parser = build_parser()
    for option, names in [
        ("--hidden-activation", HIDDEN_ACTIVATIONS),
        ("--output-activation", OUTPUT_ACTIVATIONS),
        ("--loss", tuple(LOSSES)),
        ("--dtype", DTYPES),
    ]:
        for name in names:
            args = parser.parse_args(["train", option, name])
            assert getattr(args, option[2:].replace("-", "_")) == name
    help_text = subprocess.run(
        [sys.executable, "-m", "backprop_xp", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in (*INITIALIZERS, *backends.NAME_FORMS):
        assert name in help_text, name


def test_settings_are_checked_before_anything_is_printed():
    result = cli("train", "--epochs", "0")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("backprop-xp: error: epochs must be an integer of at least 1; received 0")


def test_installed_console_script_runs():
    script = shutil.which("backprop-xp")
    if script is None:
        pytest.skip("backprop-xp is not installed on PATH (the nox sessions install it)")
    result = subprocess.run([script, "backends"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backend")
