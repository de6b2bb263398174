"""The default sweep (36 runs of the lab, 2500 epochs) trained as populations against the process pool.

``python bench/sweep_batched.py`` runs, alternating, the sweep's training as
it is now (``run_sweep``: runs that share an architecture as one population,
``populations.py``) and as it was (every run in the process pool, ``--jobs``
workers), then writes the sweep's figures and CSV once and times that apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from backprop_xp import populations
from backprop_xp.experiment import RunConfig
from backprop_xp.sweep import grid, run_sweep, write_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    configs = grid(RunConfig(), [(5, 3), (10, 10)], [0.05, 0.25, 1.0], ["glorot_uniform", "normal:1"], [0, 1, 2])
    groups = populations.groups

    def pooled():
        populations.groups = lambda configs: []
        try:
            return run_sweep(configs, jobs=args.jobs)
        finally:
            populations.groups = groups

    times = {"populations": [], f"pool --jobs {args.jobs}": []}
    runs = None
    for i in range(args.rounds):
        for name, fn in (("populations", lambda: run_sweep(configs, jobs=args.jobs)),
                         (f"pool --jobs {args.jobs}", pooled))[::(-1) ** i]:
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
            runs = runs or result
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        write_sweep(runs, out, threshold=0.05)
        figures = time.perf_counter() - start
    print(f"default sweep, {len(configs)} runs; {args.rounds} round(s); load average {os.getloadavg()}")
    for name, t in times.items():
        print(f"  training, {name:14s} median {statistics.median(t):6.2f} s")
    ratios = [a / b for a, b in zip(*times.values())]
    print(f"  populations / pool: median of per-round ratios {statistics.median(ratios):.3f}")
    print(f"  figures and CSV (write_sweep): {figures:.2f} s")


if __name__ == "__main__":
    main()
