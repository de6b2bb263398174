"""The lab's closing experiments: a grid of configurations (hidden sizes,
learning rate, initialiser), several seeds each, run in parallel processes.

Each run is an ordinary :func:`experiment.run` in a worker process; workers
send back plain NumPy data (losses and weights), and the parent draws one
decision-boundary panel per configuration, the loss curves overlaid, and a
CSV with one row per run.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from . import populations
from .backends import default_backend_name
from .datasets import Dataset
from .experiment import RunConfig, accuracy, build_network, load_data, prepare_directory, run, targets
from .network import NeuralNetwork
from .plotting import boundary_grid, draw_decision_boundary, plot_losses, save_figure
from .settings import Integer, check
from .training import TrainingDiverged

CSV_NAME, BOUNDARIES_FIGURE, LOSSES_FIGURE = "sweep.csv", "sweep_boundaries.png", "sweep_losses.png"


@dataclass
class SweepRun:
    """One run of the sweep, on the host."""

    config: RunConfig
    losses: np.ndarray  # one per epoch run
    params: list[tuple[np.ndarray, np.ndarray]]
    diverged_at: int | None = None  # the epoch the loss stopped being finite
    train_accuracy: float = math.nan  # NaN for a run that diverged
    test_accuracy: float = math.nan  # NaN also where the dataset has no held-out part

    @property
    def final_loss(self) -> float:
        return math.nan if self.diverged_at else float(self.losses[-1])

    def epochs_to(self, threshold: float) -> int | None:
        """The first epoch whose loss is below ``threshold``, or None."""
        below = np.flatnonzero(self.losses < threshold)
        return int(below[0]) + 1 if below.size else None


def grid(
    base: RunConfig,
    hidden: Sequence[tuple[int, ...]],
    lrs: Sequence[float],
    inits: Sequence[str],
    seeds: Sequence[int],
) -> list[RunConfig]:
    """Every combination, the seed varying fastest."""
    return [
        dataclasses.replace(base, hidden=tuple(h), lr=lr, init=init, seed=seed)
        for h, lr, init, seed in itertools.product(hidden, lrs, inits, seeds)
    ]


def _run_one(config: RunConfig) -> SweepRun:
    try:
        result = run(config)
    except TrainingDiverged as exc:
        return SweepRun(config, exc.losses, [], diverged_at=exc.epoch)
    return finished_run(config, result.data, result.net, result.losses)


def finished_run(config: RunConfig, data: Dataset, net: NeuralNetwork, losses: np.ndarray) -> SweepRun:
    """The record of a run that trained to its end: its losses, weights and accuracies."""
    test = math.nan
    if data.x_test is not None and data.y_test is not None:
        test = accuracy(net, data.x_test, targets(config, data, data.y_test))
    train = accuracy(net, data.x, targets(config, data, data.y))
    return SweepRun(config, losses, net.host_params(), train_accuracy=train, test_accuracy=test)


def _run_indexed(item: tuple[int, RunConfig]) -> tuple[int, SweepRun]:
    return item[0], _run_one(item[1])


def _ignore_interrupts() -> None:
    """A worker's initialiser: Ctrl-C is the parent's to handle; it ends the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_count(jobs: int | None) -> int:
    """``jobs``, checked; None: one per core this process may use."""
    if jobs is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return check("jobs", jobs, Integer(low=1), None, none="for one per core")


def run_sweep(
    configs: Sequence[RunConfig], *, jobs: int | None = None, progress: Callable[[SweepRun], None] | None = None
) -> list[SweepRun]:
    """Run every configuration, in ``jobs`` worker processes (default: one per core this
    process may use), and return the runs in the order of ``configs``.

    ``progress`` is called with each run as it ends (in the order they end). A
    ``KeyboardInterrupt`` in the parent, whether or not the workers got the
    signal too, terminates every worker before it is raised on.
    """
    jobs = worker_count(jobs)
    # Runs that share an architecture train as one population (populations.py); the pool runs the rest.
    runs: dict[int, SweepRun] = {}
    for members in populations.groups(configs):
        for i, r in zip(members, populations.train_population([configs[i] for i in members])):
            runs[i] = r
            if progress is not None:
                progress(r)
    rest = [i for i in range(len(configs)) if i not in runs]
    runs.update(zip(rest, _run_in_pool([configs[i] for i in rest], jobs, progress)))
    return [runs[i] for i in range(len(configs))]


def _run_in_pool(
    configs: Sequence[RunConfig], jobs: int, progress: Callable[[SweepRun], None] | None
) -> list[SweepRun]:
    jobs = min(jobs, len(configs))  # no idle workers to start
    runs: list[SweepRun | None] = [None] * len(configs)
    if jobs <= 1:
        for i, c in enumerate(configs):
            done = runs[i] = _run_one(c)
            if progress is not None:
                progress(done)
        return runs  # type: ignore[return-value]
    for i, r in _in_workers(configs, jobs):
        runs[i] = r
        if progress is not None:
            progress(r)
    return runs  # type: ignore[return-value]


def _in_workers(configs: Sequence[RunConfig], jobs: int):
    """Yield ``(index, run)`` as the workers finish; on any exit before the end (Ctrl-C), terminate them.

    A process pool's orderly shutdown waits for the runs in progress, which a
    worker that never saw the interrupt finishes in its own time: terminate()
    ends them at once instead.
    """
    # "spawn": a clean interpreter per worker, safe whatever the parent imported (torch, JAX threads).
    pool = multiprocessing.get_context("spawn").Pool(jobs, initializer=_ignore_interrupts)
    try:
        results = pool.imap_unordered(_run_indexed, list(enumerate(configs)))
        for _ in configs:
            while True:
                try:  # a short wait, so that the parent sees a signal at once
                    yield results.next(timeout=0.2)
                    break
                except multiprocessing.TimeoutError:
                    continue
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


class SweepProgress:
    """``sweep: 12/36 runs, best final loss 0.00047 (hidden 5-3, ...)``, redrawn in place on a terminal only."""

    def __init__(self, total: int, stream: TextIO = sys.stdout, *, enabled: bool = True) -> None:
        isatty = getattr(stream, "isatty", None)
        self.total, self.stream = total, stream
        self.enabled = enabled and bool(isatty and isatty())
        self.done, self.best, self.best_name = 0, math.inf, ""
        self._drawn, self._start = False, time.monotonic()

    def update(self, r: SweepRun) -> None:
        self.done += 1
        if math.isfinite(r.final_loss) and r.final_loss < self.best:
            self.best, self.best_name = r.final_loss, f"{r.config.describe()}, seed {r.config.seed}"
        if self.enabled:
            best = f", best final loss {self.best:.3g} ({self.best_name})" if self.best_name else ""
            line = f"\rsweep: {self.done}/{self.total} runs in {time.monotonic() - self._start:.0f} s{best}"
            self.stream.write(line + "\x1b[K")  # clear what a longer line left
            self.stream.flush()
            self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def write_csv(runs: Sequence[SweepRun], path: Path, threshold: float) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([
            "hidden", "lr", "init", "seed", "final_loss", f"epochs_to_{threshold:g}", "epochs_run",
            "train_accuracy", "test_accuracy",
        ])
        for r in runs:
            c = r.config
            reached = r.epochs_to(threshold)
            writer.writerow([
                "-".join(map(str, c.hidden)) or "none", c.lr, c.init, c.seed,
                f"{r.final_loss:.6g}", "" if reached is None else reached, r.losses.size,
                *("" if math.isnan(a) else f"{a:.4g}" for a in (r.train_accuracy, r.test_accuracy)),
            ])


def by_configuration(runs: Sequence[SweepRun]) -> dict[str, list[SweepRun]]:
    """The runs grouped by configuration (all but the seed), in order of first appearance."""
    groups: dict[str, list[SweepRun]] = {}
    for r in runs:
        groups.setdefault(r.config.describe(), []).append(r)
    return groups


def boundary_outputs(
    runs: Sequence[SweepRun], *, resolution: int = 100
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Each run's network output on the grid of its decision-boundary panel, ``(u, v, output)``
    (see :func:`plotting.draw_decision_boundary`), None for a run that diverged.

    Runs that share an architecture and data share a grid and are computed in
    one batched forward pass (:func:`populations.outputs`), on NumPy.
    """
    found: dict[RunConfig, list[int]] = {}
    for i, r in enumerate(runs):
        if not r.diverged_at:
            found.setdefault(dataclasses.replace(r.config, lr=0.0, init="", seed=0), []).append(i)
    result: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * len(runs)
    for shared, members in found.items():
        data = load_data(shared)
        net = build_network(dataclasses.replace(runs[members[0]].config, backend="numpy"), data)
        u, v = boundary_grid(data.x, resolution=resolution)
        X = np.stack([u.ravel(), v.ravel()], axis=1).astype(net.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            output = populations.outputs([runs[i].params for i in members], X, net.architecture, net.backend)
        for i, values in zip(members, output):
            result[i] = (u, v, values)
    return result


def draw_boundaries(runs: Sequence[SweepRun], path: Path) -> None:
    """One decision-boundary panel per configuration (its first seed's network), the panels' axes shared."""
    from matplotlib.figure import Figure

    groups = by_configuration(runs)
    firsts = [members[0] for members in groups.values()]
    columns = min(3, len(groups))
    rows = math.ceil(len(groups) / columns)
    width, height = 4.2 * columns, 3.6 * rows
    figure = Figure(figsize=(width, height))
    # Shared axes: every panel shows the same plane, and only the outer ones need tick labels.
    # Fixed margins (in inches: tick labels, two-line titles, the suptitle) rather than a layout
    # engine, whose measuring of every tick label took a quarter of the figure's time.
    axes = figure.subplots(
        rows, columns, squeeze=False, sharex=True, sharey=True,
        gridspec_kw=_margins(width, height, rows, columns, left=0.45, right=0.2, bottom=0.3, top=0.85,
                             wspace=0.3, hspace=0.5),
    ).ravel()
    axes[0].locator_params(nbins=4)  # shared by every panel: fewer ticks to draw
    for i, (ax, first, grid_values) in enumerate(zip(axes, firsts, boundary_outputs(firsts))):
        data = load_data(first.config)
        if grid_values is None:
            ax.text(0.5, 0.5, f"diverged at epoch {first.diverged_at}", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        else:
            draw_decision_boundary(
                data.x, data.y, *grid_values, first.config.output_activation, ax, colorbar=False, legend=i == 0
            )
            ax.set_xlabel("")
            ax.set_ylabel("")
        # y given: no search of the tick labels for room above them (there are none above).
        ax.set_title(f"{first.config.describe()}\nfinal loss {first.final_loss:.2g} (seed {first.config.seed})",
                     fontsize=9, y=1.0)
    for i in range(len(groups), len(axes)):
        axes[i].set_axis_off()
        axes[i - columns].xaxis.set_tick_params(labelbottom=True)  # the bottom of its column now
    base = runs[0].config
    figure.suptitle(
        f"{load_data(base).name}, {base.hidden_activation}/{base.output_activation}, "
        f"backend {base.backend or default_backend_name()}: network output on the fixed scale 0 (blue) to 1 (red), "
        "the 0.5 level in black", fontsize=10, y=1 - 0.15 / height, va="top",
    )
    save_figure(figure, path)


def _margins(width: float, height: float, rows: int, columns: int, **inches: float) -> dict[str, float]:
    """A grid's ``gridspec_kw`` from margins and gaps in inches (the gaps between panels: wspace, hspace)."""
    panel_w = (width - inches["left"] - inches["right"] - (columns - 1) * inches["wspace"]) / columns
    panel_h = (height - inches["top"] - inches["bottom"] - (rows - 1) * inches["hspace"]) / rows
    return {
        "left": inches["left"] / width, "right": 1 - inches["right"] / width,
        "bottom": inches["bottom"] / height, "top": 1 - inches["top"] / height,
        "wspace": inches["wspace"] / panel_w, "hspace": inches["hspace"] / panel_h,
    }


def draw_losses(runs: Sequence[SweepRun], path: Path) -> None:
    """Every run's loss curve, one colour per configuration, log scale."""
    import matplotlib
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    # Fixed margins and legend place: the layout engine and the search for the "best" corner
    # among 36 curves of 2500 points took two thirds of this figure's time.
    ax = figure.subplots(gridspec_kw=_margins(8, 5, 1, 1, left=0.75, right=0.15, bottom=0.5, top=0.35,
                                              wspace=0, hspace=0))
    cmap = matplotlib.colormaps["tab20"]
    colours = [cmap(i % 20) for i in range(len(by_configuration(runs)))]
    for colour, (name, members) in zip(colours, by_configuration(runs).items()):
        for i, r in enumerate(members):
            if r.losses.size and np.isfinite(r.losses).any():
                finite = np.where(np.isfinite(r.losses), r.losses, np.nan)
                plot_losses(finite, ax, label=name if i == 0 else None, color=colour, alpha=0.7, linewidth=1)
    ax.set_yscale("log")
    ax.set_title("training loss, every configuration and seed")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    save_figure(figure, path)


def _preload_figures() -> None:
    """A figure worker's initialiser: importing matplotlib is a third of a figure's cost in a fresh process."""
    _ignore_interrupts()
    import matplotlib.figure  # noqa: F401


class FigureWorker:
    """A second process that draws the decision boundaries while this one draws the rest.

    Started before the training (``with FigureWorker() as worker: ...``), it
    imports matplotlib on another core while the sweep trains, then draws
    when :func:`write_sweep` hands it the runs. Leaving the ``with`` block
    early (an error, Ctrl-C) terminates it.
    """

    def __init__(self) -> None:
        # "spawn", as the training pool: a clean interpreter, whatever this process imported.
        self._pool = multiprocessing.get_context("spawn").Pool(1, initializer=_preload_figures)

    def draw_boundaries(self, runs: Sequence[SweepRun], path: Path) -> Callable[[], None]:
        """Start drawing; the function returned waits for the figure (and raises what the worker raised)."""
        pending = self._pool.apply_async(draw_boundaries, (list(runs), path))
        return lambda: pending.get()

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()


def write_sweep(
    runs: Sequence[SweepRun], out: str | Path, *, threshold: float, worker: FigureWorker | None = None
) -> list[Path]:
    """The CSV, the loss curves and (for 2-D data) the decision boundaries of a sweep, in directory ``out``.

    With a :class:`FigureWorker`, the decision boundaries are drawn in its process, meanwhile.
    """
    out = prepare_directory(out)
    boundaries = load_data(runs[0].config).n_features == 2
    wait = worker.draw_boundaries(runs, out / BOUNDARIES_FIGURE) if boundaries and worker is not None else None
    write_csv(runs, out / CSV_NAME, threshold)
    draw_losses(runs, out / LOSSES_FIGURE)
    written = [out / CSV_NAME, out / LOSSES_FIGURE]
    if boundaries:
        if wait is None:
            draw_boundaries(runs, out / BOUNDARIES_FIGURE)
        else:
            wait()
        written.insert(1, out / BOUNDARIES_FIGURE)
    return written
