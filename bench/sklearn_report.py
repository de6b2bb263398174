"""The table of ``bench/test_sklearn.py``'s run: each fit's pooled median and its ratio to scikit-learn.

The ratio is the median over the passes of each pass's ratio of medians, all
taken in the run. Usage: ``python bench/sklearn_report.py RUN.json --markdown RUN.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict


def summarise(benchmarks: list[dict]) -> list[dict]:
    """One row per (dataset, impl): pooled median seconds and the ratio to scikit-learn."""
    by_pass: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for bench in benchmarks:
        info = bench["extra_info"]
        if "fit_samples_s" in info:
            by_pass[(info["dataset"], info["impl"])][info["run"]] += info["fit_samples_s"]
    rows = []
    for (dataset, impl), passes in sorted(by_pass.items()):
        pooled = [s for samples in passes.values() for s in samples]
        row = {"dataset": dataset, "impl": impl, "median_s": statistics.median(pooled), "rounds": len(pooled)}
        reference = by_pass.get((dataset, "sklearn"))
        if reference and impl != "sklearn":
            ratios = [statistics.median(passes[r]) / statistics.median(reference[r]) for r in passes if r in reference]
            row["ratio_to_sklearn"] = statistics.median(ratios)
            row["ratio_range"] = (min(ratios), max(ratios))
        rows.append(row)
    return rows


def markdown(rows: list[dict], machine: dict) -> str:
    lines = [
        (f"Machine: {machine.get('cpu_name', machine.get('cpu', {}).get('brand_raw', '?'))}, "
         f"{machine.get('cpu_count', '?')} cores; load average at save {machine.get('loadavg_at_save', '?')}."),
        "",
        "| dataset | implementation | median fit (s) | rounds | ratio to scikit-learn (min-max over passes) |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        ratio = (f"{r['ratio_to_sklearn']:.2f}x ({r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f})"
                 if "ratio_to_sklearn" in r else "1 (reference)")
        lines.append(f"| {r['dataset']} | {r['impl']} | {r['median_s']:.4f} | {r['rounds']} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json")
    parser.add_argument("--markdown", required=True)
    args = parser.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    with open(args.markdown, "w") as f:
        f.write(markdown(summarise(data["benchmarks"]), data.get("machine_info", {})))


if __name__ == "__main__":
    main()
