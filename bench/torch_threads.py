"""A torch population's time at one and two intra-op threads, and which of its ops go parallel.

The population is ``bench/population.py``'s: S lab networks (2-5-3-1,
tanh/sigmoid, MSE, five points, float64) stacked on a leading axis, trained by
``equations.sgd_step`` (500 epochs here, not 2500, so that a sample is short).

``population``: the time of one training (a sample), ``--rounds`` samples, and
every epoch's own time (median, 99th percentile, largest, and the epochs over
1 ms in 4 ms bins: the scheduler's tick here), at
``torch.set_num_threads(--threads)``; and, from ``/proc/self/task/*/schedstat``,
the CPU time and wake-ups of the process's other threads (torch's OpenMP
workers) and how long the main thread and the others waited for a CPU.

``ops``: each tensor operation of one epoch at the population's shapes, timed
call by call (median, 99th percentile, largest, in microseconds), with the
workers' CPU time and wake-ups meanwhile. With libgomp's default waiting a
worker spins between regions and is seldom woken: count regions with
``regions``.

``regions`` (under ``OMP_WAIT_POLICY=passive``): the torch calls of an
epoch, intercepted one by one (a ``TorchFunctionMode``), that wake the worker,
i.e. enter a parallel region, and how often.

``--load K`` starts K busy processes (``while True: pass``) for the
measurement and ends them afterwards, to time the program on a machine whose
cores are taken. OpenMP's settings (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``;
torch's wheels use GNU libgomp) are read from the environment when torch is
imported, so set them around the command::

    PYTHONPATH=. python bench/torch_threads.py population --threads 2 --load 1
    PYTHONPATH=. OMP_WAIT_POLICY=passive python bench/torch_threads.py ops --threads 2 --load 1

Not part of any test run (bench/ is not collected by the tests; this file is
no pytest module).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from backprop_xp import Architecture, equations, five_points, get_backend
from backprop_xp.initializers import initial_params

ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND")


@contextlib.contextmanager
def busy(count: int):
    """``count`` processes that spin on the CPU until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5 if procs else 0)  # let them take their cores
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def other_threads(main: bool = False) -> tuple[float, int, float]:
    """CPU seconds, times scheduled onto a CPU, and seconds spent runnable but waiting for a CPU,
    of this process's threads other than the main one (``main``: of the main one), from
    ``/proc/self/task/*/schedstat`` (ns on a CPU, ns waiting on a run queue, timeslices run)."""
    seconds, slices, waited = 0.0, 0, 0.0
    for tid in os.listdir("/proc/self/task"):
        if (int(tid) == os.getpid()) != main:
            continue
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                on_cpu, waiting, runs = map(int, f.read().split())
            seconds, slices, waited = seconds + on_cpu / 1e9, slices + runs, waited + waiting / 1e9
    return seconds, slices, waited


def setup(S: int):
    backend = get_backend("torch")
    arch = Architecture.build(2, 1, [5, 3], "tanh", "sigmoid", "mse")
    x, y = five_points()
    X, Y = backend.from_numpy(x.astype(np.float64)), backend.from_numpy(y.astype(np.float64).reshape(-1, 1))
    host = [initial_params(arch.sizes, "glorot_uniform", seed, "float64") for seed in range(S)]
    params = [(backend.from_numpy(np.stack([h[layer][0] for h in host])),
               backend.from_numpy(np.stack([h[layer][1][None, :] for h in host]))) for layer in range(3)]
    lr = backend.from_numpy(np.resize([0.05, 0.25, 1.0], S).reshape(S, 1, 1))
    return backend.xp, arch, X, Y, params, lr


def population(args) -> None:
    xp, arch, X, Y, params0, lr = setup(args.networks)
    samples, epochs = [], []
    for r in range(args.rounds + 1):  # the first is a warm-up
        if r == 1:
            (cpu0, runs0, wait0), main0 = other_threads(), other_threads(main=True)[2]
        params, marks = params0, [time.perf_counter()]
        for _ in range(args.epochs):
            loss, params = equations.sgd_step(params, X, Y, lr, arch, xp=xp)
            marks.append(time.perf_counter())
        samples.append(marks[-1] - marks[0])
        epochs.append(np.diff(marks))
        time.sleep(0.05)
    (cpu1, runs1, wait1), main1 = other_threads(), other_threads(main=True)[2]
    samples, each = samples[1:], np.concatenate(epochs[1:]) * 1e6
    print(f"  samples (s): {' '.join(f'{t:.3f}' for t in samples)}")
    print(f"  sample median {statistics.median(samples):.3f} s, min {min(samples):.3f}, max {max(samples):.3f}; "
          f"epoch median {np.median(each):.0f} us, p99 {np.percentile(each, 99):.0f} us, max {each.max():.0f} us, "
          f"epochs over 1 ms: {int((each > 1000).sum())} of {each.size}")
    print(f"  other threads: {len(os.listdir('/proc/self/task')) - 1}; their CPU {(cpu1 - cpu0) / sum(samples):.0%} of the "
          f"wall time, {(runs1 - runs0) / each.size:.1f} wake-ups an epoch; waiting for a CPU: main thread "
          f"{(main1 - main0) / sum(samples):.0%} of the wall time, the others {(wait1 - wait0) / sum(samples):.0%}")
    slow = each[each > 1000] / 1e3
    bins = np.bincount(np.minimum(slow // 4, 10).astype(int), minlength=11)
    print("  epochs over 1 ms by their time, 4 ms bins (1-4, 4-8, ..., 40 and more):", " ".join(map(str, bins)))


def ops(args) -> None:
    xp, arch, X, Y, params, lr = setup(args.networks)
    (W1, b1), (W2, b2), (W3, b3) = params
    A1 = torch.tanh(X @ W1 + b1)
    A2 = torch.tanh(A1 @ W2 + b2)
    D3 = torch.sigmoid(A2 @ W3 + b3) - Y
    D2 = D3 @ W3.mT
    D1 = D2 @ W2.mT
    cases = {
        "X @ W1  (5,2)@(S,2,5)": lambda: X @ W1,
        "A1 @ W2 (S,5,5)@(S,5,3)": lambda: A1 @ W2,
        "A2 @ W3 (S,5,3)@(S,3,1)": lambda: A2 @ W3,
        "A2^T @ D3 (S,3,5)@(S,5,1)": lambda: A2.mT @ D3,
        "D3 @ W3^T (S,5,1)@(S,1,3)": lambda: D3 @ W3.mT,
        "A1^T @ D2 (S,5,5)@(S,5,3)": lambda: A1.mT @ D2,
        "D2 @ W2^T (S,5,3)@(S,3,5)": lambda: D2 @ W2.mT,
        "X^T @ D1 (2,5)@(S,5,5)": lambda: X.T @ D1,
        "bmm (S,5,5)@(S,5,3)": lambda: torch.bmm(A1, W2),
        "tanh (S,5,5)": lambda: torch.tanh(A1),
        "A + b (S,5,5)+(S,1,5)": lambda: A1 + b1,
        "sum axis -2 (S,5,5)": lambda: torch.sum(A1, dim=-2, keepdim=True),
        "W - dW * lr (S,5,3)": lambda: W2 - W2 * lr,
    }
    for name, fn in cases.items():
        for _ in range(50):
            fn()
        (cpu0, runs0, _), times = other_threads(), np.empty(args.reps)
        for i in range(args.reps):
            t0 = time.perf_counter()
            fn()
            times[i] = time.perf_counter() - t0
        cpu1, runs1, _ = other_threads()
        t = times * 1e6
        print(f"  {name:28s} median {np.median(t):7.1f} us  p99 {np.percentile(t, 99):8.1f}  max {t.max():8.0f}  "
              f"total {t.sum() / 1e3:6.1f} ms  workers: {(cpu1 - cpu0) * 1e3:6.1f} ms CPU, {(runs1 - runs0) / args.reps:4.2f} wake-ups a call")


class _Regions(torch.overrides.TorchFunctionMode):
    """Counts, per torch function, the calls and the worker's wake-ups during them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[int]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        before = other_threads()[1]
        out = func(*args, **(kwargs or {}))
        shapes = " ".join(str(tuple(a.shape)) for a in args if isinstance(a, torch.Tensor))
        counts = self.found.setdefault(f"{getattr(func, '__name__', func)} {shapes}", [0, 0])
        counts[0] += 1
        counts[1] += other_threads()[1] - before
        return out


def regions(args) -> None:
    """Which torch calls of an epoch wake the OpenMP worker: with ``OMP_WAIT_POLICY=passive``
    a worker sleeps as soon as a parallel region ends, so that each region it joins is one wake-up."""
    if os.environ.get("OMP_WAIT_POLICY", "").lower() != "passive":
        sys.exit("regions: run it with OMP_WAIT_POLICY=passive (a worker then wakes once per parallel region)")
    xp, arch, X, Y, params, lr = setup(args.networks)
    for _ in range(20):
        loss, params = equations.sgd_step(params, X, Y, lr, arch, xp=xp)
    mode = _Regions()
    with mode:
        for _ in range(args.epochs):
            loss, params = equations.sgd_step(params, X, Y, lr, arch, xp=xp)
    for name, (calls, wakes) in mode.found.items():
        if wakes:
            print(f"  {name:50s} {calls / args.epochs:3.0f} call(s) an epoch, {wakes / calls:.2f} wake-ups a call")
    total = sum(w for _, w in mode.found.values())
    print(f"  all calls: {total / args.epochs:.2f} wake-ups an epoch; the other calls none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("population", "ops", "regions"))
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--load", type=int, default=0, help="busy processes to run meanwhile (default 0)")
    parser.add_argument("--networks", type=int, default=36)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reps", type=int, default=2000, help="calls per op (ops)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = ", ".join(f"{k}={os.environ[k]}" for k in ENV if k in os.environ) or "no OpenMP variables"
    print(f"{args.what}: torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
          f"load {args.load} busy process(es), {env}; S={args.networks}, float64")
    with busy(args.load):
        {"population": population, "ops": ops, "regions": regions}[args.what](args)
    print(f"  load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
