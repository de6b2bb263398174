"""The lab's two pictures: the decision boundary and the loss curve, drawn so that they cannot mislead.

Both functions draw on a matplotlib ``Axes`` (a new figure's when none is
given) and return it. They never open a window or block: new figures are
plain ``matplotlib.figure.Figure`` objects, outside pyplot's state, to be saved
or shown by the caller. Arrays of any backend and device are brought to the
host for drawing only. matplotlib is imported when a function is first called.

The rules of the decision-boundary picture, public so that other views (a
browser playground) can follow them:

- the colour scale is fixed by the output activation, never by the values
  drawn (:func:`output_range`): 0 to 1 for sigmoid and softmax, -1 to 1 for
  tanh; an unbounded output (identity, relu) gets at least 0 to 1;
- the decision level (:func:`decision_level`, 0.5 for one output unit, as
  :func:`~backprop_xp.experiment.accuracy` reads it) is always drawn: as a
  contour where the output crosses it, on the colour bar in any case, and a
  note in the figure says so when the output stays on one side of it or is
  constant (:func:`constant_output_note`);
- each class has a marker shape and the colour its region has, with a black
  edge, so points read on any background; a legend names the classes.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputTypeError, ShapeError
from .inputs import to_host
from .network import NeuralNetwork

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

#: The values each output activation can take; None where unbounded.
OUTPUT_RANGES: dict[str, tuple[float, float] | None] = {
    "sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0), "identity": None, "relu": None,
}
#: One colour map for one output unit (low: blue, high: red), one palette for classes.
SCORE_COLOURS, CLASS_COLOURS = "RdBu_r", "tab10"
#: A marker shape per class, so that classes differ in more than colour.
CLASS_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "h", "<")


def output_range(activation: str) -> tuple[float, float] | None:
    """The range of an output activation (``(0, 1)`` for sigmoid and softmax), or None if unbounded."""
    return OUTPUT_RANGES.get(activation)


def decision_level(output_size: int) -> float | None:
    """The output level between the classes: 0.5 for one output unit; None for several (the largest wins)."""
    return 0.5 if output_size == 1 else None


def colour_limits(activation: str, values: Any = None) -> tuple[float, float]:
    """The fixed colour scale of one output unit: the activation's range, else 0..1 widened to the values."""
    bounded = output_range(activation)
    if bounded is not None:
        return bounded
    low, high = 0.0, 1.0
    if values is not None:
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return low, high


def constant_output_note(values: Any, limits: tuple[float, float], level: float | None = 0.5) -> str | None:
    """What the figure must say about an output that is (nearly) constant or never crosses the level.

    None when the output varies and crosses ``level`` somewhere.
    """
    surface = np.asarray(values, dtype=np.float64)
    low, high = float(np.min(surface)), float(np.max(surface))
    if high - low <= 1e-3 * (limits[1] - limits[0]):
        side = "" if level is None else f", {'above' if low > level else 'below'} {level:g}"
        return f"constant output: {_number(low)} everywhere{side}"
    if level is not None and not low < level < high:
        where = "above" if low > level else "below"
        return f"output {where} {level:g} everywhere ({_number(low)} to {_number(high)})"
    return None


def _number(value: float) -> str:
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def describe(net: NeuralNetwork, *, dataset: str | None = None, final_loss: float | None = None) -> str:
    """A title that tells runs apart: dataset, architecture, activations, backend and final loss."""
    arch = net.architecture
    parts = [dataset] if dataset else []
    parts.append(f"{'-'.join(map(str, arch.sizes))} {'/'.join(dict.fromkeys(arch.activations))}")
    parts.append(net.backend.name)
    if final_loss is not None and math.isfinite(final_loss):
        parts.append(f"final loss {final_loss:.3g}")
    return ", ".join(parts)


def new_axes(width: float = 5.0, height: float = 4.0) -> Axes:
    """The axes of a new figure that belongs to no window."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def class_indices(y: Any) -> np.ndarray:
    """Labels as class indices on the host: one-hot rows by their largest entry, scores by > 0.5."""
    labels = to_host(y)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return np.argmax(labels, axis=1)
    labels = labels.reshape(-1)
    return labels.astype(np.int64) if labels.dtype.kind in "biu" else (labels > 0.5).astype(np.int64)


def boundary_grid(x: Any, *, resolution: int = 200, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The plane a decision-boundary panel shows: a grid around the data.

    Parameters
    ----------
    x : array of shape (n_samples, 2)
    resolution : int
        Grid points along each axis.
    margin : float
        How far the grid reaches beyond the data.

    Returns
    -------
    u, v : arrays of shape (resolution, resolution), float64
        The grid's coordinates (``numpy.meshgrid``); the network's input is
        ``numpy.stack([u.ravel(), v.ravel()], axis=1)``.
    """
    points = _points(x)
    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    return np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))


def _points(x: Any) -> np.ndarray:
    points = to_host(x).astype(np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ShapeError(f"x must have shape (n_samples, 2) with n_samples >= 1; received shape {points.shape}.")
    return points


def plot_decision_boundary(
    x: Any,
    y: Any,
    net: NeuralNetwork,
    ax: Axes | None = None,
    *,
    resolution: int = 200,
    margin: float = 0.5,
    colorbar: bool = True,
    legend: bool = True,
    title: str | None = None,
) -> Axes:
    """The network's prediction over a grid around the data, with the data on top.

    Parameters
    ----------
    x : array of shape (n_samples, 2)
    y : array of shape (n_samples,) or (n_samples, n_classes)
        Labels: class indices, 0/1 targets or one-hot rows; each class gets a
        marker shape and its region's colour.
    net : NeuralNetwork
        With two inputs. One output unit is drawn as a filled contour of its
        value on the fixed scale of :func:`colour_limits`, with the
        :func:`decision_level` as the boundary; several as the regions of the
        class with the largest output, on the class palette.
    ax : matplotlib Axes, optional
    resolution : int
        Grid points along each axis.
    margin : float
        How far the grid reaches beyond the data.
    colorbar : bool
        Draw the colour scale (one output) or the class key (several) beside the axes.
    legend : bool
        Name the classes of the points in a legend.
    title : str, optional
        Default: :func:`describe` of the network.

    Returns
    -------
    matplotlib Axes
    """
    if not isinstance(net, NeuralNetwork):
        raise InputTypeError(f"net must be a NeuralNetwork; received {type(net).__name__}.")
    if net.input_size != 2:
        raise ShapeError(
            f"A decision boundary is drawn in the plane: the network needs 2 inputs; it has {net.input_size}."
        )
    points = _points(x)
    _labels(y, points)  # checked before the forward pass
    u, v = boundary_grid(points, resolution=resolution, margin=margin)
    grid = np.stack([u.ravel(), v.ravel()], axis=1).astype(net.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        output = to_host(net.forward(grid))
    ax = draw_decision_boundary(
        points, y, u, v, output, net.architecture.activations[-1], ax, colorbar=colorbar, legend=legend
    )
    ax.set_title(describe(net) if title is None else title, fontsize=9)
    return ax


def _labels(y: Any, points: np.ndarray) -> np.ndarray:
    labels = class_indices(y)
    if labels.shape != (points.shape[0],):
        raise ShapeError(f"y must hold one label per row of x ({points.shape[0]}); received {labels.shape[0]}.")
    return labels


def draw_decision_boundary(
    x: Any,
    y: Any,
    u: np.ndarray,
    v: np.ndarray,
    output: Any,
    output_activation: str,
    ax: Axes | None = None,
    *,
    colorbar: bool = True,
    legend: bool = True,
) -> Axes:
    """A decision-boundary panel from a network's output already computed on a grid.

    The one drawing path of :func:`plot_decision_boundary` (which runs the
    network on the grid first), for callers that compute many networks' grid
    outputs at once (the sweep, one batched forward pass per architecture).
    No title is set.

    Parameters
    ----------
    x : array of shape (n_samples, 2)
    y : array of shape (n_samples,) or (n_samples, n_classes)
        As :func:`plot_decision_boundary` takes them.
    u, v : arrays of shape (r1, r2)
        The grid, as :func:`boundary_grid` gives it.
    output : array of shape (r1 * r2, n_outputs) or (r1, r2, n_outputs)
        The network's output at each grid point, in the order of ``u.ravel()``
        (for one output unit also (r1 * r2,) or (r1, r2)).
    output_activation : str
        The output layer's activation, which fixes the colour scale (:func:`colour_limits`).
    ax : matplotlib Axes, optional
    colorbar, legend : bool
        As in :func:`plot_decision_boundary`.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib

    points = _points(x)
    labels = _labels(y, points)
    values = to_host(output).astype(np.float64)
    grids = ((u.size,), u.shape)
    if values.size == 0 or (values.shape not in grids and values.shape[:-1] not in grids):
        raise ShapeError(
            f"output must hold the network's output at each grid point, shape ({u.size}, n_outputs), "
            f"{u.shape + ('n_outputs',)} or, for one output, ({u.size},); received shape {values.shape}."
        )
    values = values.reshape(u.size, -1) if values.shape[:-1] in grids else values.reshape(u.size, 1)
    ax = new_axes() if ax is None else ax
    k = values.shape[1]
    if k == 1:
        surface = values.reshape(u.shape)
        limits = colour_limits(output_activation, surface)
        level = decision_level(1)
        cmap = matplotlib.colormaps[SCORE_COLOURS]
        # Clipped for the fill only: the scale stays the activation's, whatever the values.
        filled = ax.contourf(
            u, v, np.clip(surface, *limits), levels=np.linspace(*limits, 21), cmap=cmap, alpha=0.8,
            vmin=limits[0], vmax=limits[1],
        )
        if surface.min() < level < surface.max():
            ax.contour(u, v, surface, levels=[level], colors="k", linewidths=1.5)
        if colorbar:
            bar = ax.figure.colorbar(filled, ax=ax, label="network output")
            if level is not None:  # several outputs: no level to mark
                bar.ax.axhline(level, color="k", linewidth=2)
        note = constant_output_note(surface, limits, level)
        colours = [cmap((min(max(float(c), limits[0]), limits[1]) - limits[0]) / (limits[1] - limits[0])) for c in (0, 1)]
    else:
        cmap = matplotlib.colormaps[CLASS_COLOURS]
        regions = np.argmax(values, axis=1).reshape(u.shape)
        filled = ax.contourf(u, v, regions, levels=np.arange(k + 1) - 0.5, cmap=cmap, vmin=-0.5, vmax=9.5, alpha=0.5)
        if regions.min() != regions.max():
            ax.contour(u, v, regions, levels=np.arange(k - 1) + 0.5, colors="k", linewidths=1.0)
        if colorbar:
            bar = ax.figure.colorbar(filled, ax=ax, label="class with the largest output", ticks=np.arange(k))
        note = f"every point of the plane is class {int(regions.flat[0])}" if regions.min() == regions.max() else None
        colours = [cmap(i % 10) for i in range(max(k, int(labels.max()) + 1))]
    for label in np.unique(labels):
        mine = labels == label
        ax.scatter(
            points[mine, 0], points[mine, 1], color=colours[int(label) % len(colours)],
            marker=CLASS_MARKERS[int(label) % len(CLASS_MARKERS)], edgecolors="k", linewidths=1.2, s=70, zorder=3,
            label=f"class {int(label)}",
        )
    if note is not None:
        ax.text(
            0.5, 0.04, note, transform=ax.transAxes, ha="center", va="bottom", fontsize=9, zorder=4,
            bbox={"boxstyle": "round", "facecolor": "lightyellow", "edgecolor": "0.3"},
        )
    if legend:
        ax.legend(loc="upper right", fontsize=8, framealpha=0.85)
    ax.set_xlim(u.min(), u.max())
    ax.set_ylim(v.min(), v.max())
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def plot_losses(
    losses: Any, ax: Axes | None = None, *, label: str | None = None, title: str | None = None, **line: Any
) -> Axes:
    """The loss against the epoch, on a log scale.

    Parameters
    ----------
    losses : 1-D array
        One loss per epoch, of any backend.
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label of the curve.
    title : str, optional
        Default: "training loss".
    **line
        Passed on to ``Axes.plot`` (``color``, ``alpha``, ...).

    Returns
    -------
    matplotlib Axes
    """
    curve = to_host(losses).astype(np.float64)
    if curve.ndim != 1 or curve.size == 0:
        raise ShapeError(f"losses must be a non-empty 1-D array; received shape {curve.shape}.")
    ax = new_axes() if ax is None else ax
    ax.plot(np.arange(1, curve.size + 1), curve, label=label, **line)
    if np.all(curve[np.isfinite(curve)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("training loss" if title is None else title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    return ax


def save_figure(figure: FigureBase, path: str | os.PathLike[str], *, dpi: int = 100) -> None:
    """Write a figure (an Axes' ``.figure``) to an image file, PNG by its suffix."""
    root = figure.get_figure(root=True)
    assert root is not None, "a figure always has a root figure"
    root.savefig(path, dpi=dpi)
