"""A large step with and without the in-place forms, against its floor and torch autograd.

``python bench/inplace_step.py --backend torch`` times, interleaved round by
round in one process, the engine's step (``equations.sgd_step``) as it runs
now (``ours``: temporaries overwritten, :mod:`backprop_xp.inplace`), the same
step with overwriting switched off (``ours_plain``: what the engine did before),
the bare matrix products (``matmul``, the floor) and, on torch, autograd.
It prints the median over rounds of each round's ratio, so that the machine's
load, which moves between rounds, mostly cancels.

Then each implementation runs one step in a fresh process of its own, and the
growth of that process's peak resident memory over the step is reported, in
units of one activation (batch x width x 4 bytes), read from the kernel's
peak resident set (``VmHWM``, reset before the step; Linux only). glibc's malloc is told to
map every large block on its own (``MALLOC_MMAP_THRESHOLD_``), so a freed
temporary leaves the resident set at once and the peak is the step's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import workloads as wl

from backprop_xp import equations, get_backend

SIZE = wl.Size("step-2048", 2048, (1024, 1024, 1024, 10))


def _runners(backend_name: str) -> dict:
    backend = get_backend(backend_name)
    problem = wl.make_problem(SIZE, backend)
    sync = wl.synchronizer(backend)
    xp, arch = backend.xp, problem.arch
    from backprop_xp import inplace

    def ours():
        sync(equations.sgd_step(problem.params, problem.X, problem.Y, wl.LEARNING_RATE, arch, xp=xp)[1][0][0])

    def ours_plain():
        saved = equations.may_overwrite, inplace.may_overwrite
        equations.may_overwrite = inplace.may_overwrite = lambda xp: False
        try:
            ours()
        finally:
            equations.may_overwrite, inplace.may_overwrite = saved

    runners = {"ours": ours, "ours_plain": ours_plain}
    for impl in ("matmul", "autograd"):
        if wl.supported(impl, backend.library, SIZE, "step") is None:
            r = wl.runner(impl, "step", problem)
            runners[impl] = lambda r=r: r.run(*r.setup())
    return runners


def timing(backend_name: str, rounds: int) -> None:
    runners = _runners(backend_name)
    for run in runners.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(rounds):
        order = names[i % len(names):] + names[:i % len(names)]  # rotated, so that no peer always runs first
        for name in order:
            time.sleep(0.1)
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    print(f"{backend_name}: step {'-'.join(map(str, SIZE.sizes))}, batch {SIZE.batch}, float32, {rounds} rounds; "
          f"load average {os.getloadavg()}")
    for name in names:
        print(f"  {name:11s} median {statistics.median(times[name]) * 1e3:8.1f} ms")
    for peer in [n for n in names if n != "ours"]:
        ratios = [a / b for a, b in zip(times["ours"], times[peer])]
        print(f"  ours / {peer:11s} median of per-round ratios {statistics.median(ratios):.3f}"
              f" (min {min(ratios):.3f}, max {max(ratios):.3f})")


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_one(backend_name: str, impl: str) -> None:
    run = _runners(backend_name)[impl]
    # Writing 5 to clear_refs resets the peak resident set (VmHWM) to the
    # current one (Linux 4.0 and later): the setup's own peak is forgotten.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    run()
    print(_status_bytes("VmHWM") - before)


def memory(backend_name: str) -> None:
    activation = SIZE.batch * max(SIZE.sizes[1:-1]) * 4
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONPATH=os.environ.get("PYTHONPATH", "."))
    names = list(_runners(backend_name))
    print(f"{backend_name}: peak resident growth over one step, fresh process each (1 activation = {activation >> 20} MiB)")
    for impl in names:
        out = subprocess.run([sys.executable, __file__, "--backend", backend_name, "--peak-of", impl],
                             env=env, capture_output=True, text=True, check=True).stdout
        grown = int(out.split()[-1])
        print(f"  {impl:11s} {grown / 2**20:7.1f} MiB = {grown / activation:.2f} activations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    if args.peak_of:
        _peak_one(args.backend, args.peak_of)
        return
    timing(args.backend, args.rounds)
    if not args.no_memory:
        memory(args.backend)


if __name__ == "__main__":
    main()
