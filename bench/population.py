"""A population of the lab's networks trained as one batched program, against the same runs one by one.

``python bench/population.py`` trains S networks of the lab's architecture
(2-5-3-1, tanh/sigmoid, MSE, its five points, float64) for 2500 full-batch
epochs of gradient descent, each with its own weights and learning rate:
once as a population (``equations.sgd_step`` on weights with a leading axis,
one call per epoch for all S) and once network by network (S x 2500 calls),
interleaved, and checks that both give the same losses. This is the engine
the sweep would use; the sweep itself still runs one process per run
(bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from backprop_xp import Architecture, equations, five_points, get_backend
from backprop_xp.initializers import initial_params

EPOCHS = 2500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--networks", type=int, default=36)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    backend, S = get_backend(args.backend), args.networks
    xp = backend.xp
    arch = Architecture.build(2, 1, [5, 3], "tanh", "sigmoid", "mse")
    x, y = five_points()
    X, Y = backend.from_numpy(x.astype(np.float64)), backend.from_numpy(y.astype(np.float64).reshape(-1, 1))
    host = [initial_params(arch.sizes, "glorot_uniform", seed, "float64") for seed in range(S)]
    rates = np.resize([0.05, 0.25, 1.0], S)

    def population():
        params = [(backend.from_numpy(np.stack([h[layer][0] for h in host])),
                   backend.from_numpy(np.stack([h[layer][1][None, :] for h in host]))) for layer in range(3)]
        lr = backend.from_numpy(rates.reshape(S, 1, 1))
        losses = []
        for _ in range(EPOCHS):
            loss, params = equations.sgd_step(params, X, Y, lr, arch, xp=xp)
            losses.append(loss)
        return backend.to_numpy(xp.stack(losses, axis=1))

    def one_by_one():
        out = []
        for h, lr in zip(host, rates):
            params = [(backend.from_numpy(W), backend.from_numpy(b)) for W, b in h]
            losses = []
            for _ in range(EPOCHS):
                loss, params = equations.sgd_step(params, X, Y, float(lr), arch, xp=xp)
                losses.append(loss)
            out.append(backend.to_numpy(xp.stack(losses)))
        return np.stack(out)

    times = {"population": [], "one by one": []}
    results = {}
    for i in range(args.rounds):
        for name, fn in ((("population", population), ("one by one", one_by_one))[::(-1) ** i]):
            time.sleep(0.1)
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    worst = float(np.max(np.abs(results["population"] - results["one by one"]) / np.abs(results["one by one"])))
    print(f"{backend.name}: {S} lab networks x {EPOCHS} epochs, float64; {args.rounds} rounds; load average {os.getloadavg()}")
    for name, t in times.items():
        print(f"  {name:11s} median {statistics.median(t):.2f} s")
    ratios = [a / b for a, b in zip(times["population"], times["one by one"])]
    print(f"  population / one by one: median of per-round ratios {statistics.median(ratios):.3f}")
    print(f"  largest relative difference of the losses: {worst:.2e}")


if __name__ == "__main__":
    main()
