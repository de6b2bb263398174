"""The default sweep end to end (``backprop-xp sweep --jobs 2``: training, figures and CSV), checkouts against each other.

``python bench/sweep_end_to_end.py old=/tmp/oldsweep main=/tmp/mainsweep branch=.``
runs the command of each checkout in a fresh process (``PYTHONPATH`` set to
it), in turn, round after round, and prints each one's median and the median
of its per-round ratios against the first one named, with the load average
before each run. Make a checkout of an old commit with ``git worktree add
/tmp/oldsweep COMMIT``. The commands run as given here: prefix ``nice`` or set
``OMP_NUM_THREADS`` around this script, and they apply to every run alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", metavar="NAME=DIR", help="checkouts to compare; the first is the reference")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.trees)
    times: dict[str, list[float]] = {name: [] for name in trees}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.rounds):
            for name, tree in trees.items():
                out = Path(scratch) / f"{name}-{i}"  # a new directory: old checkouts have no --overwrite
                env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
                loads.append(os.getloadavg()[0])
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "backprop_xp", "sweep", "--jobs", str(args.jobs), "--out", str(out)],
                    cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL,
                )
                times[name].append(time.perf_counter() - start)
    reference = next(iter(trees))
    print(f"sweep --jobs {args.jobs} end to end, {args.rounds} round(s); "
          f"load average (1 min) before the runs {min(loads):.2f} to {max(loads):.2f}")
    for name, t in times.items():
        ratios = [a / b for a, b in zip(t, times[reference])]
        print(f"  {name:10s} median {statistics.median(t):6.2f} s (min {min(t):.2f}, max {max(t):.2f}); "
              f"/ {reference}: median of per-round ratios {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
