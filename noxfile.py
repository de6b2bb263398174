"""The backend matrix: one session per CPU backend, each in a virtualenv that
holds only that backend, a parity session with all of them together, a dask
session, a GPU session that skips where there is no NVIDIA GPU, and a
playground session that drives the playground's page in headless Chromium.
See backends/README.md.

The benchmark sessions ``bench`` (CPU) and ``bench_gpu`` run only when named
(``python3 -m nox -s bench``); see bench/README.md. So does ``properties``,
the property tests with many more examples than the other sessions try."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys

import nox

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "bench"))
from machine import gpu_name, machine_name  # noqa: E402 (bench/, put on the path: stdlib only)

nox.options.sessions = ["lint", "numpy", "torch", "jax", "array_api_strict", "parity", "dask", "gpu", "playground"]
nox.options.reuse_existing_virtualenvs = True

TEST_ENV = "BACKPROP_XP_TEST_BACKENDS"
CPU_BACKENDS = ["numpy", "torch", "jax", "array_api_strict"]


def _install(session: nox.Session, *requirement_files: str) -> None:
    args = ["-r", "backends/base.txt"]
    for name in requirement_files:
        args += ["-r", f"backends/{name}.txt"]
    session.install(*args)
    session.install("--no-deps", ".")


def _test(session: nox.Session, backends: list[str]) -> None:
    session.run("python", "-m", "backprop_xp", "backends")
    session.run("pytest", *session.posargs, env={TEST_ENV: ",".join(backends)})


def _cpu_session(name: str):
    def session(session: nox.Session) -> None:
        # The numpy session also executes docs/lab.ipynb (tests/test_notebook.py): it alone installs a kernel.
        _install(session, name, *(["notebook"] if name == "numpy" else []))
        _test(session, [name])

    session.__doc__ = f"Tests on {name} alone, in a virtualenv without the other backends."
    return session


for _name in CPU_BACKENDS:
    nox.session(name=_name)(_cpu_session(_name))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the code, tests and benchmarks; mypy on the package (pinned in backends/lint.txt)."""
    session.install("-r", "backends/lint.txt")
    session.run("ruff", "check", "backprop_xp", "tests", "bench", "noxfile.py")
    session.run("mypy")


@nox.session
def quick(session: nox.Session) -> None:
    """The everyday check, about a minute: NumPy only, no slow tests, stopping at the first failure."""
    _install(session, "numpy")
    session.run("pytest", "-m", "not slow", "-x", "-q", *session.posargs, env={TEST_ENV: "numpy"})


@nox.session
def parity(session: nox.Session) -> None:
    """Every CPU backend in one virtualenv, compared with each other."""
    _install(session, *CPU_BACKENDS)
    _test(session, CPU_BACKENDS)


@nox.session
def dask(session: nox.Session) -> None:
    """Dask arrays, on local threads and on a two-worker LocalCluster, against NumPy.

    Without the slow tests: at tens of milliseconds of graph overhead a step,
    the 2500-epoch curves would take minutes; tests/test_dask.py compares
    shorter curves on many chunks instead.
    """
    _install(session, "dask")
    session.run("python", "-m", "backprop_xp", "backends")
    session.run("pytest", "-m", "not slow", *session.posargs, env={TEST_ENV: "dask"})


@nox.session
def properties(session: nox.Session) -> None:
    """tests/test_properties.py under hypothesis's "many" profile, on every CPU backend and Dask together."""
    _install(session, *CPU_BACKENDS, "dask")
    backends = [*CPU_BACKENDS, "dask"]
    session.run(
        "pytest", "tests/test_properties.py", *session.posargs,
        env={TEST_ENV: ",".join(backends), "HYPOTHESIS_PROFILE": "many"},
    )


def _has_nvidia_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return listing.returncode == 0 and "GPU" in listing.stdout


#: For the GPU sessions and every process they start: torch, CuPy and JAX share
#: the GPU in one pytest process, and tests start child processes on it; JAX
#: would otherwise take 75 % of the GPU's memory in each.
GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def cuda_requirements(nvidia_smi: str) -> str | None:
    """The requirements file for the driver's CUDA version in ``nvidia-smi``'s output ("CUDA Version: 12.4").

    ``gpu`` (CUDA 13 wheels) for CUDA 13 and later, ``gpu-cuda12`` for 12,
    None where the version is older or not shown.
    """
    found = re.search(r"CUDA Version\s*:\s*(\d+)\.(\d+)", nvidia_smi)
    if found is None:
        return None
    major = int(found.group(1))
    return "gpu" if major >= 13 else "gpu-cuda12" if major == 12 else None


def _gpu_requirements(session: nox.Session) -> str:
    header = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False).stdout
    name = cuda_requirements(header)
    if name is None:
        session.skip("nvidia-smi shows no CUDA version of 12 or later: backends/gpu*.txt need a CUDA 12 or 13 driver")
    return name


@nox.session
def gpu(session: nox.Session) -> None:
    """torch:cuda, cupy and jax:gpu, at full float32 precision; skipped without a GPU."""
    if not _has_nvidia_gpu():
        session.skip("no NVIDIA GPU here (nvidia-smi lists none)")
    _install(session, _gpu_requirements(session))
    session.run("python", "-m", "backprop_xp", "backends", env=GPU_ENV)
    session.run("pytest", *session.posargs, env={TEST_ENV: "torch:cuda,cupy,jax:gpu", **GPU_ENV})


BROWSER_PACKAGES = ["chromium", "chromium-driver"]  # Debian's: the browser and its WebDriver, of one version


def _install_browser(session: nox.Session) -> None:
    """Debian's chromium and chromium-driver, through apt-get, when missing and running as root."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.warn("chromium or chromedriver is missing and apt-get cannot install them here: the browser test skips")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *BROWSER_PACKAGES]):
        if subprocess.run(command, env={**os.environ, **env}, check=False).returncode != 0:
            session.warn(f"{' '.join(command)} failed: the browser test skips")
            return


@nox.session
def playground(session: nox.Session) -> None:
    """The playground in headless Chromium (tests/test_playground_browser.py); its API is tested in numpy."""
    _install(session, "numpy", "playground")
    _install_browser(session)
    session.run("pytest", "tests/test_playground_browser.py", *session.posargs, env={TEST_ENV: "numpy"})


# --- benchmarks (not in nox.options.sessions: run them by name) ---------------


def _results(kind: str) -> str:
    """``bench/results/<machine>/<UTC time>-<kind>``: the stem of a run's files."""
    machine = machine_name(None if kind == "cpu" else (gpu_name() or "gpu"))
    folder = os.path.join("bench", "results", machine)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%MZ") + f"-{kind}")


def _bench(session: nox.Session, marker: str, kind: str, env: dict[str, str] | None = None) -> None:
    stem = _results(kind)
    session.run("python", "-m", "backprop_xp", "backends", env=env)
    session.run(
        "pytest", "bench", "-m", marker, "-p", "no:cacheprovider", f"--benchmark-json={stem}.json",
        "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name", *session.posargs, env=env,
    )
    session.run("python", "bench/report.py", f"{stem}.json", "--markdown", f"{stem}.md", "--figure", f"{stem}-scaling.png")


@nox.session
def bench(session: nox.Session) -> None:
    """The CPU benchmarks (NumPy, torch, JAX and their peers); JSON, table and figure in bench/results/."""
    _install(session, "numpy", "torch", "jax", "bench")
    _bench(session, "not gpu", "cpu")


@nox.session
def bench_gpu(session: nox.Session) -> None:
    """The GPU benchmarks (torch:cuda, cupy, jax:gpu); skipped without an NVIDIA GPU."""
    if not _has_nvidia_gpu():
        session.skip("no NVIDIA GPU here (nvidia-smi lists none)")
    _install(session, _gpu_requirements(session), "bench")
    _bench(session, "gpu", "gpu", GPU_ENV)
