"""The benchmarks: the engine against its peers, by backend, size and phase.

Each case is timed with ``benchmark.pedantic``: one untimed warm-up round
(compilation, caches), then rounds whose setup prepares the inputs and then
sleeps, so that idle BLAS and OpenMP threads of the previous round (or peer)
have settled before the clock starts; the timed callable ends with a
synchronisation with the device. The same cases run in several passes, their
order rotated from pass to pass, and the samples are pooled (see conftest.py).
Ratios are reported in ``extra_info``, never asserted.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

import pytest
import workloads as wl

from backprop_xp import BackendUnavailableError, backends, get_backend

CPU_BACKENDS = ("numpy", "torch", "jax")
GPU_BACKENDS = backends.GPU_NAMES  # the backend table's
PASSES = int(os.environ.get("BACKPROP_XP_BENCH_PASSES", "3"))
#: Timed rounds per pass (after one warm-up round).
ROUNDS = {"tiny": 2, "medium": 5, "large": 3, "bigger": 3}
SWEEP_ROUNDS = 5
#: Seconds of quiet before each round: OpenBLAS's idle threads spin for about 0.1 s.
SETTLE = float(os.environ.get("BACKPROP_XP_BENCH_SETTLE", "0.15"))


@dataclass(frozen=True)
class Case:
    size: str
    phase: str
    impl: str
    backend: str
    run: int = 0  # the pass

    @property
    def backend_index(self) -> int:
        return (CPU_BACKENDS + GPU_BACKENDS).index(self.backend)

    def __str__(self) -> str:
        return f"{self.size}-{self.phase}-{self.backend}-{self.impl}-p{self.run}"


def _cases() -> list:
    params = []
    for run in range(PASSES):
        for size in wl.SIZES.values():
            for phase in wl.PHASES:
                for backend in CPU_BACKENDS + GPU_BACKENDS:
                    gpu = backend in GPU_BACKENDS
                    if size.gpu_only and not gpu:
                        continue
                    for impl in wl.IMPLEMENTATIONS:
                        if wl.supported(impl, backend.split(":")[0], size, phase):
                            continue
                        case = Case(size.name, phase, impl, backend, run)
                        params.append(pytest.param(case, id=str(case), marks=[pytest.mark.gpu] if gpu else []))
    return params


def _sweep_cases() -> list:
    params = []
    for size in wl.sweep_sizes():
        for backend in ("numpy", "torch") + GPU_BACKENDS:
            for impl in ("ours", "matmul"):
                case = Case(size.name, "step", impl, backend, run=PASSES)  # after the passes
                gpu = backend in GPU_BACKENDS
                params.append(pytest.param(case, id=str(case), marks=[pytest.mark.gpu] if gpu else []))
    return params


def _backend(name: str):
    try:
        return get_backend(name)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


@functools.cache
def _problem(size: str, backend: str) -> wl.Problem:
    return wl.make_problem(wl.size_named(size), get_backend(backend))


@functools.cache
def _runner(case: Case) -> wl.Runner:
    return wl.runner(case.impl, case.phase, _problem(case.size, case.backend))


def _measure(benchmark, case: Case, rounds: int) -> None:
    backend = _backend(case.backend)
    size = wl.size_named(case.size)
    runner = _runner(Case(case.size, case.phase, case.impl, case.backend))
    tiny = size is wl.TINY

    def setup():
        args = runner.setup()
        time.sleep(SETTLE)
        return args, {}

    benchmark.group = f"{case.size}-{case.phase}"
    info = benchmark.extra_info
    info.update(
        size=case.size, phase=case.phase, impl=case.impl, backend=backend.name, device=wl.device_name(backend),
        batch=size.batch, width=size.width, depth=len(size.sizes) - 1, dtype="float32", run=case.run,
        flops=wl.flops(size, case.phase) * (wl.TINY_EPOCHS if tiny else 1),
    )
    if tiny:
        info["epochs"] = wl.TINY_EPOCHS
    if hasattr(os, "getloadavg"):
        info["loadavg_before"] = os.getloadavg()[0]
    benchmark.pedantic(runner.run, setup=setup, rounds=rounds, warmup_rounds=1, iterations=1)
    info["samples_s"] = list(benchmark.stats.stats.data)
    if hasattr(os, "getloadavg"):
        info["loadavg_after"] = os.getloadavg()[0]
    memory = wl.peak_memory(backend)
    if memory is not None:  # one more, untimed run, from a reset peak
        reset, read = memory
        args = runner.setup()
        reset()
        runner.run(*args)
        info["peak_bytes"] = read()


@pytest.mark.parametrize("case", _cases())
def test_bench(benchmark, case):
    _measure(benchmark, case, ROUNDS[case.size])


@pytest.mark.parametrize("case", _sweep_cases())
def test_scaling(benchmark, case):
    _measure(benchmark, case, SWEEP_ROUNDS)
