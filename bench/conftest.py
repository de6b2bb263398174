"""Settings of the benchmark session: the ``gpu`` marker, an order of the
benchmarks that interleaves peers and rotates them from pass to pass, and
ratios to the peers written into every result's ``extra_info`` when the JSON is
saved (``report.summarise``: the median over the passes of each pass's ratio,
all taken in this run).

Nothing here runs in the normal test run: ``testpaths`` names ``tests/`` only,
and the nox sessions ``bench`` and ``bench_gpu`` collect ``bench/``.
"""

from __future__ import annotations

import os

import report
import sklearn_report
from workloads import IMPLEMENTATIONS, PHASES, SIZES, cpu_name


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a GPU backend (torch:cuda, cupy, jax:gpu)")


def _order(item) -> tuple:
    case = getattr(item, "callspec", None) and item.callspec.params.get("case")
    if case is None:
        return (1, 0, 0, 0, 0, 0, item.name)
    sizes = list(SIZES)
    size = sizes.index(case.size) if case.size in sizes else len(sizes)
    # Within a pass, the peers of one size and phase run next to each other;
    # from one pass to the next their order rotates, so no peer always runs
    # first (or right after a particular other one).
    turn = (IMPLEMENTATIONS.index(case.impl) + case.run) % len(IMPLEMENTATIONS)
    return (0, case.run, size, PHASES.index(case.phase), turn, case.backend_index, item.name)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_order)


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["cpu_name"] = cpu_name()
    machine_info["cpu_count"] = os.cpu_count()
    if hasattr(os, "getloadavg"):
        machine_info["loadavg_at_save"] = list(os.getloadavg())


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Write each result's pooled median, TFLOP/s and ratios to its peers into its ``extra_info``."""
    summary = report.summarise(output_json["benchmarks"])
    fits = {(r["dataset"], r["impl"]): r for r in sklearn_report.summarise(output_json["benchmarks"])}
    for bench in output_json["benchmarks"]:
        info = bench["extra_info"]
        if "fit_samples_s" in info:  # test_sklearn.py's: its ratio to scikit-learn
            info.update({k: v for k, v in fits[(info["dataset"], info["impl"])].items() if k.startswith("ratio")})
            continue
        row = summary.get(report.key_of(info))
        if row is not None:
            info.update({k: v for k, v in row.items() if k.startswith(("pooled_", "ratio_", "tflops"))})
