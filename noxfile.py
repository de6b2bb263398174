"""The backend matrix: one session per CPU backend, each in a virtualenv that
holds only that backend, a parity session with all of them together, a dask
session, and a GPU session that skips where there is no NVIDIA GPU. See
backends/README.md.

The benchmark sessions ``bench`` (CPU) and ``bench_gpu`` run only when named
(``python3 -m nox -s bench``); see bench/README.md. So does ``properties``,
the property tests with many more examples than the other sessions try."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys

import nox

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "bench"))
from machine import gpu_name, machine_name  # noqa: E402 (bench/, put on the path: stdlib only)

nox.options.sessions = ["lint", "numpy", "torch", "jax", "array_api_strict", "parity", "dask", "gpu"]
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
        _install(session, name)
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


@nox.session
def gpu(session: nox.Session) -> None:
    """torch:cuda, cupy and jax:gpu, at full float32 precision; skipped without a GPU."""
    if not _has_nvidia_gpu():
        session.skip("no NVIDIA GPU here (nvidia-smi lists none)")
    _install(session, "gpu")
    _test(session, ["torch:cuda", "cupy", "jax:gpu"])


# --- benchmarks (not in nox.options.sessions: run them by name) ---------------


def _results(kind: str) -> str:
    """``bench/results/<machine>/<UTC time>-<kind>``: the stem of a run's files."""
    machine = machine_name(None if kind == "cpu" else (gpu_name() or "gpu"))
    folder = os.path.join("bench", "results", machine)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%MZ") + f"-{kind}")


def _bench(session: nox.Session, marker: str, kind: str) -> None:
    stem = _results(kind)
    session.run("python", "-m", "backprop_xp", "backends")
    session.run(
        "pytest", "bench", "-m", marker, "-p", "no:cacheprovider", f"--benchmark-json={stem}.json",
        "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name", *session.posargs,
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
    _install(session, "gpu", "bench")
    _bench(session, "gpu", "gpu")
