"""One training run, described by a :class:`RunConfig`: the dataset, the
network, the optimiser and the stopping rules; what it produced; and the files
it leaves behind (figures, ``metrics.json``, a checkpoint).

The commands of :mod:`cli` are thin layers over this module, so a run from the
command line and a run from Python are the same run.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import checkpoints, equations
from .backends import default_backend_name, get_backend
from .datasets import Dataset, load_dataset
from .errors import LabelError, PathError, SettingError, TrainingDiverged
from .inputs import to_host
from .network import NeuralNetwork
from .plotting import describe, new_axes, output_range, plot_decision_boundary, plot_losses, save_figure
from .training import check_compile, check_settings, train

#: The files a run writes into its output directory.
LOSS_FIGURE, BOUNDARY_FIGURE, METRICS, CHECKPOINT = "loss.png", "decision_boundary.png", "metrics.json", "checkpoint.npz"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run; the defaults are the lab's."""

    dataset: str = "five-points"
    hidden: tuple[int, ...] = (5, 3)
    hidden_activation: str = "tanh"
    output_activation: str = "sigmoid"
    loss: str = "mse"
    init: str = "glorot_uniform"
    optimizer: str = "sgd"
    lr: float = 0.25
    epochs: int = 2500
    batch_size: int | None = None
    seed: int = 0  # of the initial weights and the shuffling
    backend: str | None = None
    dtype: str = "float32"
    tol: float | None = None
    patience: int = 10
    n_samples: int | None = None  # of the generated datasets
    noise: float | None = None
    data_seed: int = 0  # the data stay the same when the seed of the weights changes
    # Data larger than memory, on the dask backend (see dask_data):
    data: str | None = None  # a directory of .npy shards
    generate: int | None = None  # rows of synthetic data, made on the workers
    features: int = 10  # of the synthetic data
    chunk_size: int = 100_000  # rows per chunk of the synthetic data
    scheduler: str | None = None  # a dask.distributed scheduler's address
    compile: bool = False  # compile the training step (train's compile=True)

    @property
    def on_dask(self) -> bool:
        """Whether the run's data live in Dask chunks (on disk or generated)."""
        return self.data is not None or self.generate is not None

    def describe(self) -> str:
        hidden = "-".join(map(str, self.hidden)) or "none"
        return f"hidden {hidden}, {self.init}, {self.optimizer} lr {self.lr:g}"


@dataclass
class RunResult:
    """What a run produced: the trained network, its losses (host), the data, timings."""

    config: RunConfig
    net: NeuralNetwork
    losses: np.ndarray
    data: Dataset
    seconds: float
    stopped: str | None = None  # "diverged" or "interrupted" for a run that did not finish
    reason: str | None = None  # why, in a sentence

    @property
    def epochs_run(self) -> int:
        return int(self.losses.size)

    @property
    def stopped_early(self) -> bool:
        return self.stopped is None and self.epochs_run < self.config.epochs


def load_data(config: RunConfig) -> Dataset:
    """The run's data: a named dataset in memory, or Dask arrays from shards or the generator."""
    if config.data is not None and config.generate is not None:
        raise SettingError("Give either --data DIR or --generate N, not both.")
    if config.on_dask and config.dataset != "five-points":
        raise SettingError(f"--dataset {config.dataset} and --data/--generate both name the data: give one.")
    if config.data is not None:
        from .dask_data import load_shards

        X, Y = load_shards(config.data)
        classes = Y.shape[1] if Y.ndim == 2 and Y.shape[1] > 1 else 2
        return Dataset(f"shards in {config.data}", X, Y, classes)
    if config.generate is not None:
        from .dask_data import synthetic

        X, Y = synthetic(
            config.generate, n_features=config.features, chunk_size=config.chunk_size, seed=config.data_seed,
            dtype=config.dtype,
        )
        return Dataset(f"{config.generate} generated rows", X, Y, 2)
    return load_dataset(config.dataset, n_samples=config.n_samples, noise=config.noise, seed=config.data_seed)


def output_size(config: RunConfig, data: Dataset) -> int:
    """One output unit for two classes (as in the lab), one per class otherwise or with softmax."""
    return data.n_classes if config.output_activation == "softmax" or data.n_classes > 2 else 1


def targets(config: RunConfig, data: Dataset, y: np.ndarray) -> np.ndarray:
    """Labels as the network's loss takes them: indices for one unit or for cross-entropy, else one-hot rows.

    Data in Dask chunks are taken as they are stored.
    """
    if output_size(config, data) == 1 or config.loss == "categorical_crossentropy" or config.on_dask:
        return y
    return np.eye(data.n_classes, dtype=np.float32)[y]


def build_network(config: RunConfig, data: Dataset) -> NeuralNetwork:
    return NeuralNetwork(
        data.n_features, output_size(config, data), list(config.hidden),
        hidden_activation=config.hidden_activation, output_activation=config.output_activation,
        loss=config.loss, init=config.init, dtype=config.dtype, seed=config.seed, backend=config.backend,
    )


def check(config: RunConfig) -> None:
    """Check every setting of a run (data, network, training) without training."""
    if config.on_dask or config.scheduler is not None:
        backend = get_backend(config.backend)
        if backend.library != "dask":
            raise SettingError(
                f"--data, --generate and --scheduler run on the dask backend; received backend {backend.name!r}."
            )
        if config.batch_size is not None:
            raise SettingError(
                "--batch-size is for data in memory: on Dask chunks every minibatch would be a graph of "
                "its own that touches every chunk. Train on the full batch (the default)."
            )
    data = load_data(config)
    if config.data is not None:
        _check_shard_labels(data)
    build_network(config, data)
    check_settings(
        config.epochs, config.lr, config.optimizer, config.batch_size, config.seed, config.tol, config.patience
    )
    check_compile(config.compile)


def _check_shard_labels(data: Dataset) -> None:
    """Labels of one column must be 0/1 (one output unit); several classes need one-hot rows.

    Reads the label shards only (one small pass), not the inputs.
    """
    if data.y.ndim == 2 and data.y.shape[1] > 1:
        return
    import dask

    low, high = (float(v) for v in dask.compute(data.y.min(), data.y.max()))
    if low < 0 or high > 1:
        raise LabelError(
            f"The labels in {data.name[len('shards in '):]!r} run from {low:g} to {high:g}: one column of labels "
            "must hold 0/1 targets; store several classes as one-hot rows of shape (n, n_classes)."
        )


def run(config: RunConfig, *, callback: Callable[[int, Any], None] | None = None) -> RunResult:
    """Train a network as ``config`` says.

    Raises :class:`~backprop_xp.TrainingDiverged` if the loss diverges, and lets
    a ``KeyboardInterrupt`` through; either carries what the run had learnt as
    ``partial``, a :class:`RunResult` (the last finite weights, the losses up to
    there) that :func:`write_outputs` can write.
    """
    data = load_data(config)
    net = build_network(config, data)
    seen: list[float] = []  # the losses so far, kept on the host for an interrupted run

    def record(epoch: int, loss: Any) -> None:
        seen.append(float(loss))
        if callback is not None:
            callback(epoch, loss)

    start = time.perf_counter()
    try:
        _, losses = train(
            data.x, targets(config, data, data.y), net, config.epochs, config.lr,
            optimizer=config.optimizer, batch_size=config.batch_size, seed=config.seed,
            tol=config.tol, patience=config.patience, callback=record, compile=config.compile,
        )
    except TrainingDiverged as exc:
        # train() has put back the weights of the last epoch with a finite loss.
        finite = exc.losses[np.isfinite(exc.losses)]
        seconds = time.perf_counter() - start
        exc.partial = RunResult(  # type: ignore[attr-defined]
            config, net, finite, data, seconds, stopped="diverged", reason=" ".join(str(exc).split())
        )
        raise
    except KeyboardInterrupt as exc:
        # The weights are those of the last update made: each update replaces them whole.
        reason = f"interrupted (Ctrl-C) after {len(seen)} of {config.epochs} epochs"
        seconds = time.perf_counter() - start
        exc.partial = RunResult(  # type: ignore[attr-defined]
            config, net, np.asarray(seen, dtype=np.float64), data, seconds, stopped="interrupted", reason=reason
        )
        raise
    seconds = time.perf_counter() - start
    return RunResult(config, net, to_host(losses).astype(np.float64), data, seconds)


#: Below this many values (samples x features) in memory, Dask's graph overhead dwarfs the arithmetic.
DASK_WORTHWHILE = 10**6


def small_for_dask(config: RunConfig, data: Dataset) -> str | None:
    """A warning when in-memory data are too small for the dask backend to do anything but cost time, or None."""
    name = (config.backend or default_backend_name()).strip().lower()
    if not name.startswith("dask") or config.on_dask:
        return None
    values = int(data.x.shape[0]) * int(data.n_features)
    if values >= DASK_WORTHWHILE:
        return None
    return (
        f"{data.x.shape[0]} samples of {data.n_features} features on the dask backend: every epoch builds and "
        "runs a task graph, whose overhead (milliseconds) dwarfs work NumPy does in microseconds, so Dask can "
        f"only cost time here. Dask is for data larger than memory (--data, --generate); for these, --backend numpy."
    )


def stalled(result: RunResult, *, window: int | None = None) -> str | None:
    """A warning when the loss stopped moving because the gradients vanished, or None.

    "Stopped moving": over the last ``window`` epochs (default a tenth of the
    run, at least 10) the loss changed by less than 1e-6 of itself, while it is
    still above 1e-3 and every gradient entry is below 1e-7 in size. Saturated
    outputs (sigmoid, tanh or softmax at the ends of their range) are named.
    """
    losses = result.losses
    window = window or max(10, losses.size // 10)
    if losses.size < 2 * window or not np.isfinite(losses).all():
        return None
    recent = losses[-window:]
    final = float(recent[-1])
    if final <= 1e-3 or float(recent.max() - recent.min()) > 1e-6 * abs(final):
        return None
    net, data = result.net, result.data
    grads = net.backward(data.x, targets(result.config, data, data.y))
    largest = max(float(np.abs(net.backend.to_numpy(g)).max()) for pair in grads for g in pair)
    if largest > 1e-7:
        return None
    text = (
        f"the loss has not moved for the last {window} epochs ({final:.6f}) and the gradients have vanished "
        f"(largest entry {largest:.1e})"
    )
    bounds = output_range(net.architecture.activations[-1])
    if bounds is None or result.config.on_dask:  # data in chunks are not brought to the host for a warning
        return text + f". Training further will not help; try a smaller --lr (this run's: {result.config.lr:g})."
    outputs = to_host(net.forward(data.x)).astype(np.float64)
    if np.all(np.minimum(np.abs(outputs - bounds[0]), np.abs(outputs - bounds[1])) < 1e-4):
        text += f": the outputs have saturated ({outputs.min():.2g} to {outputs.max():.2g})"
    return text + f". Training further will not help; try a smaller --lr (this run's: {result.config.lr:g})."


def accuracy(net: NeuralNetwork, x: Any, y: Any) -> float:
    """The fraction of rows of ``x`` whose predicted class is the label.

    The class is the largest output, or with one output unit whether it is above
    0.5. Computed on the network's backend (one pass over dask data).
    """
    X, Y = net.as_arrays(x, y)
    xp = net.backend.xp
    A = equations.forward(net.params, X, net.architecture, xp=xp)[-1]
    if net.output_size == 1:
        hits = (A > 0.5) == (Y > 0.5)
    else:
        hits = xp.argmax(A, axis=1) == xp.argmax(Y, axis=1)
    (value,) = net.backend.evaluate(xp.mean(xp.astype(hits, A.dtype)))
    return float(value)


def versions(library: str) -> dict[str, str]:
    """Versions of Python and of the libraries a run used (the backend's library is imported already)."""
    import array_api_compat
    import matplotlib

    from . import __version__

    found = {
        "python": platform.python_version(), "backprop-xp": __version__, "numpy": np.__version__,
        "array-api-compat": array_api_compat.__version__, "matplotlib": matplotlib.__version__,
    }
    found[library] = getattr(importlib.import_module(library), "__version__", "unknown")
    return found


def metrics(result: RunResult) -> dict[str, Any]:
    """The summary written to ``metrics.json``."""
    net, data = result.net, result.data
    summary: dict[str, Any] = {
        "final_loss": float(result.losses[-1]) if result.losses.size else None,
        "train_accuracy": accuracy(net, data.x, targets(result.config, data, data.y)),
        "epochs_run": result.epochs_run,
        "epochs_requested": result.config.epochs,
        "stopped": result.stopped or ("early stopping" if result.stopped_early else "completed"),
        **({"reason": result.reason} if result.reason else {}),
        "wall_time_s": round(result.seconds, 4),
        "backend": net.backend.name,
        "device": str(net.backend.device),
        "compiler": net.backend.compiler if result.config.compile else "off",
        **({"scheduler": _scheduler(result.config)} if net.backend.library == "dask" else {}),
        "versions": versions(net.backend.library),
        "config": dataclasses.asdict(result.config),
        "architecture": "-".join(map(str, net.architecture.sizes)),
    }
    if data.x_test is not None and data.y_test is not None:
        summary["test_accuracy"] = accuracy(net, data.x_test, targets(result.config, data, data.y_test))
    return summary


def _scheduler(config: RunConfig) -> str:
    from .dask_data import scheduler_address

    return scheduler_address(config.scheduler) or "local threads"


def draw_figures(net: NeuralNetwork, losses: np.ndarray, data: Dataset, out: Path) -> list[Path]:
    """The loss curve and, for 2-D data, the decision boundary, as PNG files in ``out``."""
    written = []
    finite = losses[np.isfinite(losses)]
    title = describe(net, dataset=data.name, final_loss=float(finite[-1]) if finite.size else None)
    if losses.size:  # an interrupt before the first epoch ended leaves no curve
        ax = plot_losses(losses, title=title)
        save_figure(ax.figure, out / LOSS_FIGURE)
        written.append(out / LOSS_FIGURE)
    if data.n_features == 2 and isinstance(data.x, np.ndarray):  # a picture of data held in memory
        ax = plot_decision_boundary(data.x, data.y, net, new_axes(5.5, 4.5), title=title)
        save_figure(ax.figure, out / BOUNDARY_FIGURE)
        written.append(out / BOUNDARY_FIGURE)
    return written


def write_outputs(
    result: RunResult, out: str | Path, *, warnings: list[str] | None = None
) -> tuple[list[Path], dict[str, Any]]:
    """Write the figures, ``metrics.json`` and the checkpoint of a run into directory ``out``.

    A run that diverged or was interrupted (``result.stopped``) writes the same
    files: the loss curve so far, the reason in ``metrics.json``, and the last
    finite weights. ``warnings`` go into ``metrics.json`` too. Returns the
    files written and the metrics.
    """
    out = prepare_directory(out)
    written = draw_figures(result.net, result.losses, result.data, out)
    summary = metrics(result)
    if warnings:
        summary["warnings"] = list(warnings)
    (out / METRICS).write_text(json.dumps(summary, indent=2) + "\n")
    checkpoints.save(result.net, out / CHECKPOINT, losses=result.losses, info={"config": summary["config"]})
    return [*written, out / METRICS, out / CHECKPOINT], summary


def prepare_directory(out: str | Path, *, overwrite: bool = True, run_files: tuple[str, ...] = ()) -> Path:
    """Create ``out`` if needed and check that files can be written there, before any work is done.

    With ``overwrite=False``, a directory that already holds any of ``run_files``
    (the files of an earlier run) is refused: a run's directory is that run's.
    """
    out = Path(out)
    earlier = [name for name in run_files if (out / name).exists()]
    if earlier and not overwrite:
        raise PathError(
            f"{str(out)!r} already holds a run ({', '.join(earlier)}); expected a new directory. "
            "Add --overwrite to replace it, or give --out DIR for another."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".backprop-xp-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PathError(f"Cannot write to the output directory {str(out)!r}: {exc.strerror or exc}.") from None
    return out


def config_from_checkpoint(info: dict[str, Any]) -> RunConfig:
    """The :class:`RunConfig` a checkpoint written by :func:`write_outputs` records."""
    stored = info.get("config")
    if not isinstance(stored, dict):
        raise checkpoints.CheckpointError(
            "This checkpoint does not record how it was trained (no 'config' in its info); "
            "it was not written by backprop-xp train."
        )
    known = {f.name for f in dataclasses.fields(RunConfig)}
    values = {k: v for k, v in stored.items() if k in known}
    values["hidden"] = tuple(values.get("hidden", ()))
    try:
        return RunConfig(**values)
    except TypeError as exc:
        raise checkpoints.CheckpointError(f"This checkpoint's record of its training is damaged: {exc}.") from None
