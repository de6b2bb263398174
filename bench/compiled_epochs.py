"""The lab's run (2-5-3-1, 2500 epochs, five points) compiled on JAX against eager NumPy ``train``.

``python bench/compiled_epochs.py`` measures, in one process:

- the first ``train(..., compile=True)`` on JAX, with nothing compiled yet
  (tracing and XLA compilation included): reported on its own;
- then, interleaved round by round, ``train()`` on NumPy (eager), the compiled
  JAX ``train()`` now that its program is kept (chunks of epochs, one dispatch
  each: ``chunks.py``), and the compiled JAX ``train()`` with one dispatch per
  epoch (chunks switched off: the per-epoch loop this replaced, its step kept
  compiled too).

It prints the median per-epoch time of each and the medians of the per-round
ratios, with the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from backprop_xp import NeuralNetwork, compiled, five_points, train

EPOCHS, LR = 2500, 0.25


def _train(backend: str, compile: bool) -> float:
    x, y = five_points()
    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend)
    start = time.perf_counter()
    _, losses = train(x, y, net, EPOCHS, LR, compile=compile)
    np.asarray(losses)  # on the host: the work is done
    return time.perf_counter() - start


def _per_epoch_dispatch() -> float:
    # The loop of one dispatch per epoch: no chunk program (the kept one bypassed too), its step kept compiled.
    saved = compiled.compiled_epochs
    compiled.compiled_epochs = lambda *args: None
    try:
        return _train("jax", True)
    finally:
        compiled.compiled_epochs = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    first = _train("jax", True)
    _per_epoch_dispatch()  # its own step compiled once, outside the timing
    runs = {"numpy eager": lambda: _train("numpy", False), "jax chunks": lambda: _train("jax", True),
            "jax per-epoch": _per_epoch_dispatch}
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(args.rounds):
        for name in names[i % 3:] + names[:i % 3]:
            time.sleep(0.1)
            times[name].append(runs[name]())
    print(f"the lab's run, {EPOCHS} epochs; {args.rounds} rounds; load average {os.getloadavg()}")
    print(f"  first compiled train() on jax (tracing and compilation in it): {first:.2f} s")
    for name in names:
        print(f"  {name:14s} median {statistics.median(times[name]) / EPOCHS * 1e6:8.1f} us/epoch")
    for peer in ("numpy eager", "jax per-epoch"):
        ratios = [b / a for a, b in zip(times["jax chunks"], times[peer])]
        print(f"  {peer} / jax chunks: median of per-round ratios {statistics.median(ratios):.1f}x"
              f" (min {min(ratios):.1f}, max {max(ratios):.1f})")


if __name__ == "__main__":
    main()
