"""torch's fused kernels against the standard's forms the engine uses, on one layer of the large step.

``python bench/fused_kernels.py`` times, interleaved in one process (medians
of 60 rounds, inputs copied outside the clock), on a 2048 x 1024 float32
layer of the step 1024-1024-1024-10 at batch 2048:

- tanh': the engine's three in-place passes (``A *= A; A *= dA; dA -= A``,
  ``activations.tanh_backward_overwriting``) against
  ``aten.tanh_backward`` into a new array and into ``dA``;
- the bias: ``Z = A @ W`` then ``Z += b`` (``inplace.add_into``) against
  ``torch.addmm(b, A, W)``.

It prints each median, the time a step would save (three hidden layers), and
the largest difference of the fused results from the engine's. Issue 15 allows
such a kernel as an optional, tested override of one primitive if it is worth
more than the standard's form; this is the measurement that decides.
"""

from __future__ import annotations

import statistics
import time

import torch

ROUNDS = 60


def main() -> None:
    torch.manual_seed(0)
    A = torch.tanh(torch.randn(2048, 1024))
    dA = torch.randn(2048, 1024)
    X = torch.randn(2048, 1024)
    W = torch.randn(1024, 1024) / 32
    b = torch.randn(1024)

    def timed(fn):
        def run():
            a, d = A.clone(), dA.clone()
            start = time.perf_counter()
            fn(a, d)
            return time.perf_counter() - start
        return run

    def ours_tanh(a, d):
        a *= a
        a *= d
        d -= a

    def bias_then_add(a, d):
        Z = X @ W
        Z += b

    cases = {
        "tanh': three in-place passes (ours)": timed(ours_tanh),
        "tanh': aten.tanh_backward, new array": timed(lambda a, d: torch.ops.aten.tanh_backward(d, a)),
        "tanh': aten.tanh_backward into dA": timed(
            lambda a, d: torch.ops.aten.tanh_backward.grad_input(d, a, grad_input=d)),
        "bias: X @ W, then += b (ours)": timed(bias_then_add),
        "bias: torch.addmm(b, X, W)": timed(lambda a, d: torch.addmm(b, X, W)),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, run in cases.items():
            times[name].append(run())
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"one 2048 x 1024 float32 layer, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"medians of {ROUNDS} interleaved rounds")
    for name, m in medians.items():
        print(f"  {name:42s} {m * 1e3:7.2f} ms")
    names = list(medians)
    tanh_saved = medians[names[0]] - medians[names[2]]
    bias_saved = medians[names[3]] - medians[names[4]]
    print(f"  a step's three hidden layers would save {3 * tanh_saved * 1e3:.2f} ms (tanh') "
          f"and {3 * bias_saved * 1e3:.2f} ms (addmm)")
    a, d = A.clone(), dA.clone()
    ours_tanh(a, d)
    fused = torch.ops.aten.tanh_backward(dA, A)
    Z = X @ W
    Z += b
    print(f"  largest difference from ours: tanh' {(d - fused).abs().max().item():.2e}, "
          f"addmm {(Z - torch.addmm(b, X, W)).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
