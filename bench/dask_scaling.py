"""Time per training epoch on the dask backend against the number of chunks and
of workers, with NumPy on the same data in memory as the yardstick.

A plain script, not a pytest suite: each configuration needs its own scheduler
or cluster, started and shut down around it. The data are generated on the
workers in every epoch (:func:`backprop_xp.dask_data.synthetic`), as a dataset
larger than memory would be read in every epoch, so a figure includes making
the chunks; NumPy, and dask on the same numbers held in memory, show what
making them costs and what dask's graph costs. Every figure is the median of
the timed epochs after one warm-up epoch, and the load average is recorded
before and after: never compare these figures with another machine's, or with
a run under another load.

    python bench/dask_scaling.py                 # writes bench/results/<machine>/dask-scaling.json
    python bench/dask_scaling.py --quick         # a smaller sweep, to try it
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backprop_xp import NeuralNetwork, dask_data, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_name  # noqa: E402 (the folder of this script, put on the path)
from workloads import cpu_name  # noqa: E402

HIDDEN = [16, 8]


def epoch_times(X, Y, n_features: int, backend: str, epochs: int) -> list[float]:
    """Seconds per epoch of ``train``, one warm-up epoch left out."""
    net = NeuralNetwork(n_features, 1, HIDDEN, dtype="float64", seed=0, backend=backend)
    stamps = []
    train(X, Y, net, epochs + 1, 0.5, callback=lambda epoch, loss: stamps.append(time.perf_counter()))
    return list(np.diff(stamps))


def run(args: argparse.Namespace) -> dict:
    import dask
    import dask.array as da
    import distributed

    rows, n_features = args.rows, args.features
    results = []

    def record(scheduler: str, workers: int, threads: int, chunks: int, seconds: list[float],
               data: str = "generated") -> None:
        row = {
            "scheduler": scheduler, "workers": workers, "threads_per_worker": threads, "chunks": chunks,
            "data": data,
            "median_s": statistics.median(seconds), "min_s": min(seconds), "epochs_s": seconds,
            "loadavg_after": list(os.getloadavg()),
        }
        results.append(row)
        print(f"{scheduler:14s} workers {workers} threads {threads} chunks {chunks:4d} {data:9s}: "
              f"median {row['median_s']:.3f} s/epoch (min {row['min_s']:.3f})", flush=True)

    X, Y = dask_data.synthetic(rows, n_features=n_features, chunk_size=rows, seed=0)
    x, y = dask.compute(X, Y, scheduler="sync")
    record("numpy", 1, 1, 1, epoch_times(x, y, n_features, "numpy", args.epochs), "in-memory")

    for chunks in args.chunks:
        rows_per_chunk = -(-rows // chunks)
        # The same numbers already in memory: what is left is dask's own overhead.
        X, Y = da.from_array(x, chunks=(rows_per_chunk, -1)), da.from_array(y, chunks=(rows_per_chunk, -1))
        with dask.config.set(scheduler="threads", num_workers=2):
            record("local-threads", 1, 2, chunks, epoch_times(X, Y, n_features, "dask", args.epochs), "in-memory")
        X, Y = dask_data.synthetic(rows, n_features=n_features, chunk_size=rows_per_chunk, seed=0)
        for threads in (1, 2):
            with dask.config.set(scheduler="threads", num_workers=threads):
                record("local-threads", 1, threads, chunks, epoch_times(X, Y, n_features, "dask", args.epochs))
        for workers in (1, 2):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            with cluster, dask_data.connect(cluster.scheduler_address):
                record("local-cluster", workers, 1, chunks, epoch_times(X, Y, n_features, "dask", args.epochs))
    return {
        "benchmark": "dask-scaling",
        "machine": machine_name(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "numpy": np.__version__, "dask": dask.__version__,
        "distributed": distributed.__version__,
        "data": {"rows": rows, "features": n_features, "dtype": "float64",
                 "megabytes": rows * (n_features + 1) * 8 / 1e6, "generated_on_the_workers_each_epoch": True},
        "network": f"{n_features}-{'-'.join(map(str, HIDDEN))}-1 tanh/sigmoid mse",
        "epochs_timed": args.epochs, "loadavg_before": args.loadavg_before,
        "datetime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per configuration, after one warm-up")
    parser.add_argument("--quick", action="store_true", help="40,000 rows, 1 and 8 chunks, 3 epochs")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/<machine>/dask-scaling.json")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.chunks, args.epochs = 40_000, [1, 8], 3
    args.loadavg_before = list(os.getloadavg())
    report = run(args)
    out = args.out or Path(__file__).parent / "results" / report["machine"] / "dask-scaling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
