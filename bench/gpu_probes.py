"""Probes for the GPU check (bench/gpu_check.sh): compiled training against
eager, the lab's 2500 epochs in us per epoch, and the peak device memory of one
large step, ours against torch autograd. Writes ``probes.json`` and
``probes.md`` into ``--out`` and exits 1 if a correctness probe failed.

``--device gpu`` compiles with real CUDA graphs on ``torch:cuda`` (and
``jax.jit`` on ``jax:gpu``); ``--device cpu`` is the dry run: torch on the CPU
through a stand-in capture that reruns the captured work (the tests' own
mechanism), JAX on the CPU, smaller sizes, no device memory.

Usage::

    PYTHONPATH=. python bench/gpu_probes.py --device gpu --out OUT
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads as wl

from backprop_xp import NeuralNetwork, TrainingDiverged, backends, compiled, five_points, get_backend, train
from backprop_xp.activations import HIDDEN_ACTIVATIONS
from backprop_xp.graphs import GraphEpochs, GraphStep, rerun_capture
from backprop_xp.losses import COMPATIBLE_OUTPUTS

PAIRINGS = [(output, loss) for loss, outputs in COMPATIBLE_OUTPUTS.items() for output in outputs]
#: Compiled against eager, relative (as tests/test_compile.py).
RTOL = {"float64": 1e-12, "float32": 1e-4}


def _use_stand_in_capture() -> None:
    library = backends._LIBRARIES["torch"]
    backends._LIBRARIES["torch"] = dataclasses.replace(
        library, compiler=lambda device: ("graph stand-in", lambda step: GraphStep(step, rerun_capture)),
        epochs_compiler=lambda device, step, k: GraphEpochs(step, k, rerun_capture))


def _backend_or_none(name: str):
    try:
        return get_backend(name)
    except backends.BackendUnavailableError as exc:
        print(f"[probes] {name}: {exc}", flush=True)
        return None


def _data(n: int = 7, inputs: int = 3, outputs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, inputs)), np.eye(outputs)[rng.integers(0, outputs, size=n)]


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    scale = float(np.linalg.norm(want))
    return float(np.linalg.norm(got - want)) / (scale if scale else 1.0)


def compiled_against_eager(backend, epochs: int, every: bool = True) -> list[dict[str, Any]]:
    """Every hidden activation and output/loss pair, sgd and Adam, full batch and batch 2, float32 and float64.

    ``every=False`` (the dry run): each hidden activation with the first pair,
    and each pair with tanh hidden layers, not all their combinations.
    """
    x, y = _data()  # 7 samples: batch 2 has a short last batch, a second graph shape
    rows = []
    for hidden in HIDDEN_ACTIVATIONS:
        for output, loss in PAIRINGS:
            if not every and hidden != "tanh" and (output, loss) != PAIRINGS[0]:
                continue
            for optimizer in ("sgd", "adam"):
                for batch_size in (None, 2):
                    for dtype in ("float32", "float64"):
                        row = {"backend": backend.name, "hidden": hidden, "output": output, "loss": loss,
                                   "optimizer": optimizer, "batch": batch_size or "full", "dtype": dtype}
                        try:
                            row.update(_one_pair(backend, x, y, hidden, output, loss, optimizer, batch_size, dtype,
                                                 epochs))
                        except Exception as exc:  # noqa: BLE001  (recorded: the probe fails, the others go on)
                            row.update(ok=False, error=f"{type(exc).__name__}: {exc}")
                        rows.append(row)
    return rows


def _one_pair(backend, x, y, hidden, output, loss, optimizer, batch_size, dtype, epochs) -> dict[str, Any]:
    def net():
        return NeuralNetwork(3, 2, [4, 3], hidden_activation=hidden, output_activation=output, loss=loss,
                             dtype=dtype, seed=0, backend=backend.name)

    eager, compiled = net(), net()
    settings = {"optimizer": optimizer, "batch_size": batch_size, "seed": 1}
    _, eager_losses = train(x, y, eager, epochs, 0.05, **settings)
    kept = []
    _, compiled_losses = train(x, y, compiled, epochs, 0.05, compile=True,
                               callback=lambda epoch, value: kept.append(value), **settings)
    want, got = backend.to_numpy(eager_losses), backend.to_numpy(compiled_losses)
    loss_error = _relative(got, want)
    weight_error = max(_relative(V, W) for pair, other in zip(eager.host_params(), compiled.host_params())
                       for W, V in zip(pair, other))
    callback_ok = bool(np.array_equal(np.array([float(v) for v in kept]), got))
    ok = loss_error <= RTOL[dtype] and weight_error <= RTOL[dtype] and callback_ok
    return {"loss_error": loss_error, "weight_error": weight_error, "callback_losses_valid": callback_ok, "ok": ok}


def divergence(backend) -> list[dict[str, Any]]:
    """A run that diverges: compiled and eager stop at one epoch with the same weights (full batch and batch 2)."""
    x, y = five_points()
    rows = []
    for batch_size in (None, 2):
        nets = [NeuralNetwork(2, 1, [5, 3], seed=0, dtype="float64", hidden_activation="relu",
                              output_activation="identity", backend=backend.name) for _ in range(2)]
        epochs = []
        for net, compile in zip(nets, (False, True)):
            try:
                train(x, y, net, 1000, 40.0, batch_size=batch_size, seed=3, compile=compile)
                epochs.append(None)
            except TrainingDiverged as exc:
                epochs.append(exc.epoch)
        error = max(_relative(V, W) for pair, other in zip(nets[0].host_params(), nets[1].host_params())
                    for W, V in zip(pair, other))
        rows.append({"backend": backend.name, "batch": batch_size or "full", "eager_epoch": epochs[0],
                         "compiled_epoch": epochs[1], "weight_error": error,
                         "ok": epochs[0] is not None and epochs[0] == epochs[1] and error <= RTOL["float64"]})
    return rows


def _timed(fn, sync, repeats: int) -> list[float]:
    fn()  # warm-up: libraries, kernels, XLA's compilation cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return times


def lab_epochs(backend, epochs: int, repeats: int) -> list[dict[str, Any]]:
    """The lab's training (2-5-3-1, 2500 epochs) eager and compiled, a new network each time: us per epoch.

    Compiled twice: in chunks of epochs (train()'s full-batch path: a jax.jit
    loop, or CUDA graphs of 1, 2, 4, ... steps), and with the chunks switched
    off (one compiled step per epoch, as train() runs minibatches). The first
    compiled call (tracing, capture) is timed on its own.
    """
    x, y = five_points()
    sync = wl.synchronizer(backend)
    rows = []
    for label in ("eager", "chunks", "per epoch"):
        def run(label=label):
            net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
            saved = compiled.compiled_epochs
            if label == "per epoch":
                compiled.compiled_epochs = lambda *args: None
            try:
                return train(x, y, net, epochs, wl.LEARNING_RATE, compile=label != "eager")[1]
            finally:
                compiled.compiled_epochs = saved

        compiled.clear()
        start = time.perf_counter()
        sync(run())
        first = time.perf_counter() - start
        # Eager JAX dispatches op by op (milliseconds an epoch): timed once after its warm-up.
        times = _timed(run, sync, repeats if label != "eager" else 1)
        name = "eager" if label == "eager" else f"{backend.compiler}, {label}"
        rows.append({"backend": backend.name, "compiler": name, "epochs": epochs, "first_call_s": first,
                     "median_s": statistics.median(times), "us_per_epoch": statistics.median(times) / epochs * 1e6,
                     "samples_s": times})
    rows.append(_bare_steps(backend, epochs, repeats, sync))
    return rows


def _bare_steps(backend, epochs: int, repeats: int, sync) -> dict[str, Any]:
    """The compiled step alone, called ``epochs`` times without reading a loss: what train()'s loop adds is the rest."""
    from backprop_xp.optimizers import get_optimizer
    from backprop_xp.training import _counters_as_arrays, training_step

    net = NeuralNetwork(2, 1, [5, 3], seed=0, backend=backend.name)
    X, Y = net.as_arrays(*five_points())
    sgd = get_optimizer("sgd")
    step = backend.compile(training_step(net.architecture, sgd, wl.LEARNING_RATE, backend.xp))
    state = _counters_as_arrays(sgd.init(net.params, backend.xp), net.params[0][0], backend.xp)

    def run():
        params, s = net.params, state
        for _ in range(epochs):
            loss, params, s = step(params, s, X, Y)
        return loss

    times = _timed(run, sync, repeats)
    return {"backend": backend.name, "compiler": f"{backend.compiler}, step only, no loss read", "epochs": epochs,
                "median_s": statistics.median(times), "us_per_epoch": statistics.median(times) / epochs * 1e6,
                "samples_s": times}


def peak_memory(backend, size) -> list[dict[str, Any]]:
    """Peak allocated device memory of one step over what its inputs hold, ours against torch autograd."""
    import torch

    rows = []
    for impl in ("ours", "autograd"):
        p = wl.make_problem(size, backend)
        runner = wl.runner(impl, "step", p)
        args = runner.setup()
        runner.run(*args)  # warm-up: cuBLAS workspaces are not the step's
        torch.cuda.synchronize(backend.device)
        held = torch.cuda.memory_allocated(backend.device)
        torch.cuda.reset_peak_memory_stats(backend.device)
        runner.run(*args)
        peak = torch.cuda.max_memory_allocated(backend.device)
        rows.append({"backend": backend.name, "size": size.name, "impl": impl, "held_bytes": held, "peak_bytes": peak,
                         "step_bytes": peak - held})
        del p, runner, args
        torch.cuda.empty_cache()
    ours, theirs = rows
    ours["step_bytes_to_autograd"] = ours["step_bytes"] / theirs["step_bytes"] if theirs["step_bytes"] else None
    ours["peak_to_autograd"] = ours["peak_bytes"] / theirs["peak_bytes"]
    return rows


def graph_memory(backend) -> list[dict[str, Any]]:
    """Device memory that compile=True's graphs keep reserved (minibatches: two shapes), against eager training."""
    import torch

    x, y = _data(64, 8, 4)
    rows = []
    for compile in (False, True):
        torch.cuda.synchronize(backend.device)
        torch.cuda.empty_cache()
        before = torch.cuda.memory_reserved(backend.device)
        net = NeuralNetwork(8, 4, [256, 256], seed=0, backend=backend.name, output_activation="softmax",
                            loss="categorical_crossentropy")
        train(x, y, net, 3, 0.1, batch_size=24, optimizer="adam", compile=compile)  # batches of 24, 24 and 16
        torch.cuda.synchronize(backend.device)
        rows.append({"backend": backend.name, "compile": compile,
                         "reserved_bytes": torch.cuda.memory_reserved(backend.device) - before})
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = [f"## Probes ({results['device']})", ""]
    pairs = results["compiled_against_eager"]
    failed = [r for r in pairs if not r["ok"]]
    lines.append(f"Compiled against eager: {len(pairs) - len(failed)} of {len(pairs)} cases agree "
                 f"(losses and weights within {RTOL['float32']:g} in float32, {RTOL['float64']:g} in float64; "
                 "the callback's losses stay valid).")
    if pairs:
        for dtype in ("float32", "float64"):
            errors = [max(r.get("loss_error", np.inf), r.get("weight_error", np.inf)) for r in pairs if r["dtype"] == dtype]
            if errors:
                lines.append(f"- {dtype}: largest relative error {max(errors):.2e}")
    for r in failed[:20]:
        lines.append(f"- FAILED {r}")
    lines += ["", "| divergence | batch | eager epoch | compiled epoch | weights | ok |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in results["divergence"]:
        lines.append(f"| {r['backend']} | {r['batch']} | {r['eager_epoch']} | {r['compiled_epoch']} | "
                     f"{r['weight_error']:.1e} | {'yes' if r['ok'] else 'NO'} |")
    epochs = results["lab"][0]["epochs"] if results["lab"] else wl.TINY_EPOCHS
    lines += ["", f"| lab, {epochs} epochs | compiler | first call | median | us/epoch | target |",
              "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in results["lab"]:
        target = ""
        if r["compiler"].endswith(", chunks") and results["device"] == "gpu":
            target = "met (<= 25)" if r["us_per_epoch"] <= 25 else "missed (> 25)"
        first = f"{r['first_call_s']:.2f} s" if "first_call_s" in r else ""
        lines.append(f"| {r['backend']} | {r['compiler']} | {first} | {r['median_s'] * 1e3:.1f} ms | "
                     f"{r['us_per_epoch']:.1f} | {target} |")
    if results.get("memory"):
        lines += ["", "| peak memory of one step | size | impl | held | peak | peak - held | x autograd (peak) |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
        for r in results["memory"]:
            ratio = f"{r['peak_to_autograd']:.2f}" if "peak_to_autograd" in r else ""
            lines.append(f"| {r['backend']} | {r['size']} | {r['impl']} | {r['held_bytes'] / 2**20:.1f} MiB | "
                         f"{r['peak_bytes'] / 2**20:.1f} MiB | {r['step_bytes'] / 2**20:.1f} MiB | {ratio} |")
    if results.get("graph_memory"):
        lines += ["", "| memory a training reserves (Adam, batches of 24, 24, 16) | compile=True | reserved |",
                  "| --- | --- | ---: |"]
        for r in results["graph_memory"]:
            lines.append(f"| {r['backend']} | {r['compile']} | {r['reserved_bytes'] / 2**20:.1f} MiB |")
    for name, error in results["errors"].items():
        lines.append(f"\nProbe {name} failed: {error}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gpu = args.device == "gpu"
    if not gpu:
        _use_stand_in_capture()
    torch_name, jax_name = ("torch:cuda", "jax:gpu") if gpu else ("torch", "jax")
    # The dry run probes torch only: JAX's probes are the same functions, and
    # its eager CPU training alone would take most of the dry run's time.
    names = (torch_name, jax_name) if gpu else (torch_name,)
    found = {name: _backend_or_none(name) for name in names if importlib.util.find_spec(name.split(":")[0])}
    found = {name: b for name, b in found.items() if b is not None}
    results: dict[str, Any] = {"device": args.device, "backends": sorted(b.name for b in found.values()),
                               "compiled_against_eager": [], "divergence": [], "lab": [], "memory": [],
                               "graph_memory": [], "errors": {}}
    lab_epochs_n, repeats = (wl.TINY_EPOCHS, 3) if gpu else (100, 1)
    probes = []
    if torch_name in found:
        t = found[torch_name]
        probes += [("compiled_against_eager", lambda: compiled_against_eager(t, 12 if gpu else 4, every=gpu)),
                   ("divergence", lambda: divergence(t))]
    for b in found.values():
        probes.append(("lab", lambda b=b: lab_epochs(b, lab_epochs_n, repeats)))
    if gpu and torch_name in found:
        t = found[torch_name]
        probes += [("memory", lambda: peak_memory(t, wl.LARGE)), ("graph_memory", lambda: graph_memory(t))]
    for name, probe in probes:
        start = time.perf_counter()
        try:
            results[name] += probe()
        except Exception:  # noqa: BLE001  (recorded: the check goes on to the next probe)
            results["errors"][name] = traceback.format_exc(limit=3)
        print(f"[probes] {name}: {time.perf_counter() - start:.1f} s", flush=True)
        (out / "probes.json").write_text(json.dumps(results, indent=1, default=str))  # kept if a later one hangs
    text = markdown(results)
    (out / "probes.md").write_text(text)
    print(text)
    bad = [r for r in results["compiled_against_eager"] + results["divergence"] if not r["ok"]]
    return 1 if bad or results["errors"] or not found else 0


if __name__ == "__main__":
    sys.exit(main())
