"""Choosing a backend by name: the table, the environment variable, the
errors, and the promise that importing the package imports no GPU library."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import selected_backends

from backprop_xp import BackendUnavailableError, NeuralNetwork, backends, get_backend


def test_numpy_is_the_default(monkeypatch):
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
    assert get_backend().name == "numpy"
    assert NeuralNetwork(2, 1, [3]).backend.name == "numpy"


def test_environment_variable_chooses_the_backend(monkeypatch):
    pytest.importorskip("array_api_strict")
    monkeypatch.setenv(backends.ENV_VAR, "array_api_strict")
    net = NeuralNetwork(2, 1, [3])
    assert net.backend.name == "array_api_strict"
    # An explicit argument wins over the environment.
    assert NeuralNetwork(2, 1, [3], backend="numpy").backend.name == "numpy"


def test_unknown_environment_value_is_reported(monkeypatch):
    monkeypatch.setenv(backends.ENV_VAR, "nummpy")
    with pytest.raises(ValueError, match=r"Unknown backend 'nummpy'. Expected one of: numpy, torch.*Available here: numpy"):
        NeuralNetwork(2, 1, [3])


@pytest.mark.parametrize(
    "name", ["tensorflow", "numpy:gpu", "numpy:", "torch:", "torch:gpu", "torch:cuda:x", "jax:tpu", "cupy:a", ""]
)
def test_unknown_names_list_the_known_ones(name):
    # Checked before anything is imported, so whatever is installed here.
    with pytest.raises(ValueError, match=r"Unknown backend .* Expected one of: " + ", ".join(backends.NAME_FORMS)):
        get_backend(name)


def test_a_backend_that_is_not_installed_says_how_to_install_it(monkeypatch):
    missing = backends._Library(
        module="backprop_xp_no_such_module", names=("nothere",), suffixes="", load=backends._load_numpy,
        devices=lambda: [], install="pip install no-such-thing",
    )
    monkeypatch.setitem(backends._LIBRARIES, "nothere", missing)
    with pytest.raises(BackendUnavailableError) as info:
        get_backend("nothere")
    message = str(info.value)
    assert "needs backprop_xp_no_such_module, which is not installed here" in message
    assert "Install it with: pip install no-such-thing" in message
    assert "Available here: numpy" in message
    assert "\n" not in message


@pytest.mark.parametrize("name, probe", [("torch:cuda", "torch"), ("torch:cuda:3", "torch"), ("jax:gpu", "jax"), ("cupy", "cupy")])
def test_a_missing_gpu_is_reported(name, probe):
    if importlib.util.find_spec(probe) is None:
        pytest.skip(f"{probe} is not installed")
    try:
        backend = get_backend(name)
    except BackendUnavailableError as exc:
        assert f"Backend {name!r} needs a GPU, but" in str(exc)
        assert "Available here:" in str(exc) and "\n" not in str(exc)
    else:
        assert backend.library == probe and "cpu" not in str(backend.device).lower()


def test_backend_objects_are_cached_and_canonical():
    assert get_backend("numpy") is get_backend(" numpy ") is get_backend("NumPy")
    if importlib.util.find_spec("torch"):
        assert get_backend("torch").name == "torch"
        assert str(get_backend("torch").device) == "cpu"


def test_backend_names_must_be_strings():
    with pytest.raises(TypeError, match="backend must be a string"):
        get_backend(3)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ | env, check=True
    )


def test_importing_the_package_imports_no_gpu_or_optional_library():
    code = (
        "import sys, backprop_xp\n"
        "net = backprop_xp.NeuralNetwork(2, 1, [3])\n"
        "print(sorted(m for m in ('torch', 'jax', 'cupy', 'array_api_strict', 'dask') if m in sys.modules))\n"
    )
    assert _run(code, **{backends.ENV_VAR: "numpy"}).stdout.strip() == "[]"


def test_importing_the_package_stays_lazy_whatever_the_environment_says():
    code = "import sys, backprop_xp\nprint(sorted(m for m in ('torch', 'jax', 'cupy') if m in sys.modules))\n"
    assert _run(code, **{backends.ENV_VAR: "torch:cuda"}).stdout.strip() == "[]"


def test_describe_backends_covers_the_table():
    rows = backends.describe_backends()
    assert [r["backend"] for r in rows] == list(backends._LIBRARIES)
    numpy_row = rows[0]
    assert numpy_row["status"] == "ok" and numpy_row["devices"] == "cpu" and numpy_row["version"]
    for row in rows:
        installed = importlib.util.find_spec(backends._LIBRARIES[row["backend"]].module) is not None
        assert (row["status"] == "ok") == installed, row


def test_float32_matmuls_run_at_full_precision(backend):
    # TF32 (torch) or JAX's default float32 matmul on a GPU would be off by
    # about 1e-3 here; full float32 precision is within a few 1e-7.
    rng = np.random.default_rng(0)
    A = rng.normal(size=(256, 512)).astype(np.float32)
    B = rng.normal(size=(512, 256)).astype(np.float32)
    with backend.full_precision():
        got = backend.to_numpy(backend.from_numpy(A) @ backend.from_numpy(B))
    expected = A.astype(np.float64) @ B.astype(np.float64)
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < 1e-5


def test_a_network_leaves_torchs_matmul_precision_as_the_user_set_it():
    if not any(name.startswith("torch") for name in selected_backends()):
        pytest.skip("runs in the torch sessions")
    torch = pytest.importorskip("torch")
    from backprop_xp import train

    saved = torch.get_float32_matmul_precision()
    seen = []
    try:
        torch.set_float32_matmul_precision("medium")
        net = NeuralNetwork(2, 1, [3], seed=0, backend="torch")
        x, y = [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0]
        train(x, y, net, 2, 0.1, callback=lambda epoch, loss: seen.append(torch.get_float32_matmul_precision()))
        net.forward(x), net.get_loss(x, y), net.backward(x, y)
        assert seen == ["highest", "highest"]  # ours, inside training
        assert torch.get_float32_matmul_precision() == "medium"  # the user's, after it
    finally:
        torch.set_float32_matmul_precision(saved)


def _jax_session_only():
    if not any(name.startswith("jax") for name in selected_backends()):
        pytest.skip("runs in the jax sessions")  # a fresh jax process costs seconds
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")


def test_jax_settings_stay_the_users():
    # In a fresh process: this one's JAX settings are the test session's.
    _jax_session_only()
    code = (
        "import jax, backprop_xp\n"
        "def settings(): return (bool(jax.config.jax_enable_x64), jax.config.jax_default_matmul_precision)\n"
        "before = settings()\n"
        "seen = []\n"
        "net = backprop_xp.NeuralNetwork(2, 1, [3], seed=0, backend='jax')\n"
        "x, y = [[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0]\n"
        "backprop_xp.train(x, y, net, 2, 0.1, callback=lambda e, l: seen.append(settings()))\n"
        "net.forward(x), net.backward(x, y)\n"
        "try:\n"
        "    backprop_xp.NeuralNetwork(2, 1, [3], backend='jax', dtype='float64')\n"
        "except backprop_xp.errors.DTypeError as exc:\n"
        "    print('refused:', exc)\n"
        "print(before, settings(), seen[0], net.params[0][0].dtype, jax.numpy.arange(3).dtype)\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "net = backprop_xp.NeuralNetwork(2, 1, [3], backend='jax', dtype='float64')\n"
        "print(net.params[0][0].dtype)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"} | {"JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    refused, settings, x64 = out.strip().split("\n")
    assert refused.startswith("refused: float64 on JAX needs JAX's 64-bit mode: expected jax_enable_x64 on; received it off")
    assert "jax.config.update('jax_enable_x64', True)" in refused
    # Before, after, and inside training (full precision there only).
    assert settings == "(False, None) (False, None) (False, 'highest') float32 int32"
    assert x64 == "float64"


def test_the_command_line_runs_float64_on_jax():
    # The program owns its process, so it switches JAX's 64-bit mode on itself.
    _jax_session_only()
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"} | {"JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-m", "backprop_xp", "gradcheck", "--backend", "jax", "--dtype", "float64"],
        capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr


def test_a_library_that_fails_to_import_is_reported_not_raised(monkeypatch):
    def broken(*args):
        raise RuntimeError("CUDA driver version is insufficient")

    lib = backends._Library(
        module="numpy", names=("broken",), suffixes="", load=broken, devices=broken, install="pip install broken"
    )
    monkeypatch.setitem(backends._LIBRARIES, "broken", lib)
    with pytest.raises(BackendUnavailableError, match=r"Backend 'broken' failed to load \(RuntimeError: CUDA driver version is insufficient\)"):
        get_backend("broken")
    row = next(r for r in backends.describe_backends() if r["backend"] == "broken")
    assert row["status"] == "fails to load: RuntimeError: CUDA driver version is insufficient"


def test_every_documented_name_form_passes_its_librarys_pattern():
    # names (for people) and suffixes (for the parser) describe the same names.
    for library, lib in backends._LIBRARIES.items():
        for form in lib.names:
            name, _, suffix = form.replace("N", "0").partition(":")
            assert name == library
            assert not suffix or re.fullmatch(lib.suffixes, suffix), form


def test_a_jax_gpu_that_fails_to_initialise_is_not_reported_as_missing(monkeypatch):
    # Several JAX processes on one GPU: the later ones fail to initialise (issue 13).
    jax = pytest.importorskip("jax")

    def devices(platform=None):
        raise RuntimeError("Backend 'cuda' failed to initialize: CUDA_ERROR_OUT_OF_MEMORY. Available backends are ['cpu']")

    monkeypatch.setattr(jax, "devices", devices)
    with pytest.raises(backends.BackendUnavailableError) as error:
        backends._load.__wrapped__("jax:gpu")  # past the cache: a GPU machine may hold a loaded jax:gpu
    message = str(error.value)
    assert "could not initialise it" in message and "CUDA_ERROR_OUT_OF_MEMORY" in message
    assert "XLA_PYTHON_CLIENT_PREALLOCATE=false" in message and "sees no" not in message


def test_training_runs_with_the_backends_device_current(monkeypatch):
    # cupy:N makes new arrays on the current device: train() must enter N (issue 13).
    # Faked on numpy: its library's activate() records when the device is entered.
    import dataclasses
    from contextlib import contextmanager

    from backprop_xp import five_points, train

    entered = []

    @contextmanager
    def activate(device):
        entered.append(device)
        yield
        entered.pop()

    monkeypatch.setitem(backends._LIBRARIES, "numpy", dataclasses.replace(backends._LIBRARIES["numpy"], activate=activate))
    net = NeuralNetwork(2, 1, [3], seed=0)
    during = []
    train(*five_points(), net, 3, 0.1, batch_size=2, callback=lambda epoch, loss: during.append(list(entered)))
    assert during == [["cpu"]] * 3 and entered == []
    assert train.__name__ == "train" and "learning rate" in train.__doc__.lower()
    with pytest.raises(backends.InputTypeError):  # not a network: train's own message, no activation
        train(*five_points(), "net", 3, 0.1)
