"""The lab's two pictures: the decision boundary and the loss curve.

Both functions draw on a matplotlib ``Axes`` (a new figure's when none is
given) and return it. They never open a window or block: new figures are
plain ``matplotlib.figure.Figure`` objects, outside pyplot's state, to be saved
or shown by the caller. Arrays of any backend and device are brought to the
host for drawing only. matplotlib is imported when a function is first called.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputTypeError, ShapeError
from .inputs import to_host
from .network import NeuralNetwork

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase


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


def plot_decision_boundary(
    x: Any,
    y: Any,
    net: NeuralNetwork,
    ax: Axes | None = None,
    *,
    resolution: int = 200,
    margin: float = 0.5,
    colorbar: bool = True,
) -> Axes:
    """The network's prediction over a grid around the data, with the data on top.

    Parameters
    ----------
    x : array of shape (n_samples, 2)
    y : array of shape (n_samples,) or (n_samples, n_classes)
        Labels: class indices, 0/1 targets or one-hot rows; they colour the points.
    net : NeuralNetwork
        With two inputs. One output unit is drawn as a filled contour of its
        value, with the 0.5 level as the boundary; several as the regions of
        the class with the largest output.
    ax : matplotlib Axes, optional
    resolution : int
        Grid points along each axis.
    margin : float
        How far the grid reaches beyond the data.
    colorbar : bool
        With one output unit, draw the colour scale beside the axes.

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
    points = to_host(x).astype(np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ShapeError(f"x must have shape (n_samples, 2) with n_samples >= 1; received shape {points.shape}.")
    labels = class_indices(y)
    if labels.shape != (points.shape[0],):
        raise ShapeError(f"y must hold one label per row of x ({points.shape[0]}); received {labels.shape[0]}.")
    ax = new_axes() if ax is None else ax

    low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
    u, v = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    grid = np.stack([u.ravel(), v.ravel()], axis=1).astype(net.dtype)
    output = to_host(net.forward(grid)).astype(np.float64)
    if net.output_size == 1:
        surface = output.reshape(u.shape)
        filled = ax.contourf(u, v, surface, levels=20, cmap="RdBu_r", alpha=0.8)
        if surface.min() < 0.5 < surface.max():
            ax.contour(u, v, surface, levels=[0.5], colors="k", linewidths=1.5)
        if colorbar:
            ax.figure.colorbar(filled, ax=ax, label="network output")
    else:
        regions = np.argmax(output, axis=1).reshape(u.shape)
        k = net.output_size
        ax.contourf(u, v, regions, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.5)
    colours = "RdBu_r" if net.output_size == 1 else "tab10"
    ax.scatter(
        points[:, 0], points[:, 1], c=labels, cmap=colours, vmin=0 if net.output_size == 1 else -0.5,
        vmax=1 if net.output_size == 1 else 9.5, edgecolors="w", linewidths=1.5, s=60, zorder=3,
    )
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title("decision boundary")
    return ax


def plot_losses(losses: Any, ax: Axes | None = None, *, label: str | None = None, **line: Any) -> Axes:
    """The loss against the epoch, on a log scale.

    Parameters
    ----------
    losses : 1-D array
        One loss per epoch, of any backend.
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label of the curve.
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
    ax.set_title("training loss")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def save_figure(figure: FigureBase, path: str | os.PathLike[str], *, dpi: int = 100) -> None:
    """Write a figure (an Axes' ``.figure``) to an image file, PNG by its suffix."""
    root = figure.get_figure(root=True)
    assert root is not None, "a figure always has a root figure"
    root.savefig(path, dpi=dpi)
