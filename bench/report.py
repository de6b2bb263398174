"""Turn a benchmark run's JSON into the README's tables and the scaling figure.

Every figure comes from one run: an implementation's samples are pooled over
the run's passes for its median; its ratio to a peer of the same backend, size
and phase is the median over the passes of the ratio within each pass (where
the two ran next to each other, under one load), never a comparison with
another machine's numbers; each issue-4 target is checked against those ratios.

Usage::

    python bench/report.py bench/results/MACHINE/RUN.json            # markdown to stdout
    python bench/report.py RUN.json --figure bench/results/MACHINE/scaling.png
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

#: The floor and the autodiff peer each implementation is compared with.
FLOOR = "matmul"
AUTODIFF = {"torch": "autograd", "jax": "jax_grad"}
#: The eager training that ``ours_compiled`` (``train(..., compile=True)``) is compared with.
EAGER = {"jax": "eager"}

#: The targets: (label, size, phase, backend names, impl, field, bound); met when ``field <= bound``.
#: A backend name matches its canonical device names too (``torch:cuda``:
#: ``torch:cuda:0``; ``cupy``: ``cupy:0``), which is what results carry.
#: The CPU ones are issue 4's; the GPU ones issue 13's.
GPU = ("torch:cuda", "cupy", "jax:gpu")
TARGETS = [
    ("CPU large step <= 1.10x bare matmuls (NumPy)", "large", "step", ("numpy",), "ours", "ratio_to_floor", 1.10),
    ("CPU large step <= 1.10x bare matmuls (torch)", "large", "step", ("torch",), "ours", "ratio_to_floor", 1.10),
    ("CPU large step <= 1.0x torch autograd", "large", "step", ("torch",), "ours", "ratio_to_autodiff", 1.0),
    ("CPU tiny (lab, 2500 epochs): NumPy <= 0.2x the lab's torch loop", "tiny", "step", ("numpy",), "ours",
     "ratio_to_lab", 0.2),
    ("CPU tiny: torch backend <= 1.0x the lab's torch loop", "tiny", "step", ("torch",), "ours", "ratio_to_lab", 1.0),
    ("GPU large step <= 1.05x fp32 bare matmuls", "large", "step", GPU, "ours", "ratio_to_floor", 1.05),
    ("GPU large step < 1.0x torch autograd", "large", "step", ("torch:cuda",), "ours", "ratio_to_autodiff", 1.0),
    ("GPU bigger step <= 1.05x fp32 bare matmuls", "bigger", "step", GPU, "ours", "ratio_to_floor", 1.05),
    ("GPU bigger step < 1.0x torch autograd", "bigger", "step", ("torch:cuda",), "ours", "ratio_to_autodiff", 1.0),
    ("GPU tiny (lab, 2500 epochs) compiled <= 25 us/epoch", "tiny", "step", ("torch:cuda", "jax:gpu"),
     "ours_compiled", "us_per_epoch", 25.0),
    ("GPU large step peak memory <= 0.9x torch autograd's", "large", "step", ("torch:cuda",), "ours",
     "memory_to_autodiff", 0.9),
]


def matches(name: str, backend: str) -> bool:
    """Whether a target's backend ``name`` covers a result's canonical ``backend`` (``torch:cuda`` covers ``torch:cuda:0``)."""
    # Only a device index may follow: "torch" must not cover "torch:cuda:0".
    return backend == name or (backend.startswith(name + ":") and backend[len(name) + 1:].isdigit())


def key_of(info: dict[str, Any]) -> tuple[str, str, str, str]:
    """(size, phase, backend, impl): what identifies a result across passes."""
    return info["size"], info["phase"], info["backend"], info["impl"]


def summarise(benchmarks: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """One row per (size, phase, backend, impl), its samples pooled over the passes.

    Parameters
    ----------
    benchmarks : list of dict
        pytest-benchmark's ``benchmarks`` entries; each ``extra_info`` holds
        ``size``, ``phase``, ``backend``, ``impl``, ``flops``, ``device`` and
        ``samples_s`` (the timed rounds, in seconds).

    Returns
    -------
    dict
        Keyed by :func:`key_of`: ``pooled_median_s``, ``pooled_rounds``,
        ``tflops`` (from the pooled median) and, where the peer was measured,
        ``ratio_to_floor``, ``ratio_to_autodiff``, ``ratio_to_lab`` and (for
        ``ours_compiled``) ``ratio_to_eager``: the
        median over the passes of each pass's ratio of medians.
    """
    samples: dict[tuple, list[float]] = defaultdict(list)
    by_pass: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    infos: dict[tuple, dict[str, Any]] = {}
    for bench in benchmarks:
        info = bench["extra_info"]
        if "samples_s" not in info:
            continue
        key = key_of(info)
        samples[key] += info["samples_s"]
        by_pass[key][info.get("run", 0)] += info["samples_s"]
        infos.setdefault(key, info)
    rows: dict[tuple, dict[str, Any]] = {}
    for key, data in samples.items():
        info = infos[key]
        median = statistics.median(data)
        rows[key] = {
            "size": info["size"], "phase": info["phase"], "backend": info["backend"], "impl": info["impl"],
            "device": info.get("device", ""), "batch": info.get("batch"), "width": info.get("width"),
            "flops": info["flops"], "pooled_median_s": median, "pooled_rounds": len(data),
            "tflops": info["flops"] / median / 1e12,
            "loadavg": max(info.get("loadavg_before", 0), info.get("loadavg_after", 0)),
        }
        if "peak_bytes" in info:
            rows[key]["peak_bytes"] = info["peak_bytes"]
        if "epochs" in info:
            rows[key]["us_per_epoch"] = median / info["epochs"] * 1e6
    for key, row in rows.items():
        size, phase, backend, impl = key
        library = backend.split(":")[0]
        peers = {"ratio_to_floor": (size, phase, backend, FLOOR),
                 "ratio_to_autodiff": (size, phase, backend, AUTODIFF.get(library, "")),
                 "ratio_to_lab": _lab_peer(rows, size, phase, backend) if size == "tiny" else None,
                 "ratio_to_eager": (size, phase, backend, EAGER.get(library, "ours")) if impl == "ours_compiled" else None}
        for field, peer in peers.items():
            if peer and peer in rows and peer != key:
                row[field] = _ratio_of(by_pass[key], by_pass[peer])
        autodiff = rows.get((size, phase, backend, AUTODIFF.get(library, "")))
        if autodiff is not None and autodiff is not row and "peak_bytes" in row and "peak_bytes" in autodiff:
            row["memory_to_autodiff"] = row["peak_bytes"] / autodiff["peak_bytes"]
    return rows


def _lab_peer(rows: dict[tuple, dict[str, Any]], size: str, phase: str, backend: str) -> tuple | None:
    """The lab's loop to compare with: on the CPU for a CPU backend, on torch's GPU for a GPU one."""
    if ":" not in backend:
        return size, phase, "torch", "lab"
    return next((key for key in rows if key[:2] == (size, phase) and key[3] == "lab" and key[2] != "torch"), None)


def _ratio_of(mine: dict[int, list[float]], peer: dict[int, list[float]]) -> float:
    """The median over the passes of the ratio of medians within a pass.

    Peers of one pass ran minutes apart at most, so a pass's ratio sees one
    load; the median over passes then discards a pass whose load changed
    half-way. Passes that only one side ran are pooled as a fallback.
    """
    common = sorted(set(mine) & set(peer))
    if not common:
        pooled = [x for run in mine.values() for x in run], [x for run in peer.values() for x in run]
        return statistics.median(pooled[0]) / statistics.median(pooled[1])
    return statistics.median(statistics.median(mine[r]) / statistics.median(peer[r]) for r in common)


def load(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def _ratio(row: dict[str, Any], field: str) -> str:
    return f"{row[field]:.2f}" if field in row else ""


def table(rows: dict[tuple, dict[str, Any]], *, sizes: tuple[str, ...] = ("tiny", "medium", "large", "bigger")) -> str:
    """A markdown table: median, achieved TFLOP/s and ratios to the peers."""
    lines = [
        "| size | phase | backend | implementation | median | TFLOP/s | x floor | x autograd / jax.grad | x lab loop | x eager | rounds |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    phases = ("forward", "backward", "step")
    impls = ("ours", "matmul", "autograd", "jax_grad", "lab", "ours_compiled", "eager")
    order = sorted(
        (row for row in rows.values() if row["size"] in sizes),
        key=lambda r: (sizes.index(r["size"]), phases.index(r["phase"]), r["backend"], impls.index(r["impl"])),
    )
    for row in order:
        median = _time(row["pooled_median_s"])
        if row["size"] == "tiny":
            median += f" ({row['pooled_median_s'] / 2500 * 1e6:.0f} us/epoch)"
        lines.append(
            f"| {row['size']} | {row['phase']} | {row['backend']} | {row['impl']} | {median} | "
            f"{row['tflops']:.3f} | {_ratio(row, 'ratio_to_floor')} | {_ratio(row, 'ratio_to_autodiff')} | "
            f"{_ratio(row, 'ratio_to_lab')} | {_ratio(row, 'ratio_to_eager')} | {row['pooled_rounds']} |"
        )
    return "\n".join(lines)


def targets(rows: dict[tuple, dict[str, Any]]) -> str:
    """A markdown table of the targets: measured value, met or not (or not measured), per matching result."""
    lines = ["| target | backend | measured | met |", "| --- | --- | ---: | --- |"]
    for label, size, phase, backends, impl, field, bound in TARGETS:
        for name in backends:
            found = [row for key, row in sorted(rows.items()) if key[:2] == (size, phase) and key[3] == impl
                     and matches(name, key[2]) and field in row]
            if not found:
                lines.append(f"| {label} | {name} | not measured | |")
            for row in found:
                met = "yes" if row[field] <= bound else "no"
                lines.append(f"| {label} | {row['backend']} | {row[field]:.2f} | {met} |")
    return "\n".join(lines)


def figure(rows: dict[tuple, dict[str, Any]], path: str | Path) -> None:
    """Log-log time of a step against batch size and against width, with slopes 1 and 2 drawn in."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in rows.values() if r["size"].startswith("sweep-")]
    fixed = _sweep_fixed(sweep)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, other, slope in ((axes[0], "batch", "width", 1), (axes[1], "width", "batch", 2)):
        lines = defaultdict(list)
        for r in sweep:
            if r[other] == fixed:
                lines[(r["backend"], r["impl"])].append((r[axis], r["pooled_median_s"]))
        anchor = None
        for (backend, impl), points in sorted(lines.items()):
            points.sort()
            xs, ys = zip(*points)
            ax.loglog(xs, ys, "o-" if impl == "ours" else "s--", label=f"{impl} ({backend})")
            if anchor is None or (backend, impl) == ("numpy", "matmul"):
                anchor = (xs[-1], ys[-1], xs[0])
        if anchor:
            x1, y1, x0 = anchor
            ax.loglog([x0, x1], [y1 * (x0 / x1) ** slope, y1], ":", color="gray", label=f"slope {slope}")
        ticks = sorted({x for points in lines.values() for x, _ in points})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(f"{axis} ({other} {fixed}, depth 4)")
        ax.set_ylabel("median time of a step (s)")
        ax.set_title(f"time against {axis}: ideal slope {slope}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    devices = sorted({r["device"] for r in sweep})
    fig.suptitle("; ".join(devices), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _sweep_fixed(sweep: list[dict[str, Any]]) -> int | None:
    """The batch size that is also the width the other axis is swept at."""
    counts: dict[int, int] = defaultdict(int)
    for r in sweep:
        if r["batch"] == r["width"]:
            counts[r["batch"]] += 1
    return max(counts, key=counts.get) if counts else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="a pytest-benchmark JSON file written by nox -s bench or bench_gpu")
    parser.add_argument("--figure", help="write the scaling figure (PNG) here")
    parser.add_argument("--markdown", help="write the tables here as well as to stdout")
    args = parser.parse_args(argv)
    text = markdown(load(args.json), figure_path=args.figure)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


def markdown(data: dict[str, Any], *, figure_path: str | None = None) -> str:
    """The report of one run: machine and load, the targets, every result, the figure."""
    rows = summarise(data["benchmarks"])
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu_name", machine.get("cpu", {}).get("brand_raw", "?"))
    load = max(r["loadavg"] for r in rows.values())
    parts = [
        (f"Machine: {cpu}, {machine.get('cpu_count', '?')} cores; run of {data.get('datetime', '?')}; "
         f"highest 1-minute load average seen during a benchmark: {load:.1f}."),
        "### Targets",
        targets(rows),
        "### All results (float32; medians pooled over the passes, ratios: median of the per-pass ratios)",
        table(rows),
    ]
    if figure_path:
        figure(rows, figure_path)
        parts.append(f"![scaling]({Path(figure_path).name})")
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()
