"""Backprop's gradients against central finite differences, layer by layer.

For each parameter array, ``relative error = ||g - g_fd|| / max(||g||, ||g_fd||)``
over the entries checked (all of them, or a seeded sample of large arrays).
The losses are evaluated on the network's own backend and device; in float64
a correct backward pass gives errors around 1e-9 or less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .network import NeuralNetwork
from .settings import Integer, Real, check

#: The largest relative error a correct gradient shows, by dtype, at the default step.
TOLERANCE = {"float64": 1e-6, "float32": 1e-2}
#: The default finite-difference step, by dtype.
STEP = {"float64": 1e-6, "float32": 1e-2}
#: The rules of gradient_check()'s settings (see :mod:`settings`).
EPS = (Real(low=0, low_open=True), None)
MAX_ENTRIES = (Integer(low=1), None)


@dataclass(frozen=True)
class ArrayCheck:
    """The comparison for one parameter array."""

    layer: int  # from 1, as in the equations
    name: str  # "W" or "b"
    shape: tuple[int, ...]
    entries: int  # how many entries were checked
    backprop_norm: float
    relative_error: float


def gradient_check(
    net: NeuralNetwork,
    x: Any,
    y: Any,
    *,
    eps: float | None = None,
    max_entries: int | None = 200,
    seed: int = 0,
) -> list[ArrayCheck]:
    """Compare ``net.backward(x, y)`` with central differences of ``net.get_loss``.

    Parameters
    ----------
    net : NeuralNetwork
        Left as it was: its parameters are restored, and the gradients of the
        check are stored as those of a ``backward`` call.
    x, y : the batch, as :meth:`NeuralNetwork.backward` takes it
    eps : float, optional
        The step (default: ``STEP[net.dtype]``).
    max_entries : int or None
        Per array, check at most this many entries, drawn with ``seed``; None checks all.

    Returns
    -------
    list of ArrayCheck, W then b, layer by layer
    """
    eps = check("eps", eps, *EPS, none="for the dtype's default step")
    eps = STEP[net.dtype] if eps is None else eps
    check("max_entries", max_entries, *MAX_ENTRIES, none="for all")
    X, Y = net.as_arrays(x, y)
    backend = net.backend
    original = net.params
    host = [list(pair) for pair in net.host_params()]
    grads = [(backend.to_numpy(dW), backend.to_numpy(db)) for dW, db in net.backward(X, Y)]
    rng = np.random.default_rng(seed)

    def loss_at(layer: int, which: int, index: tuple[int, ...], value: float) -> float:
        saved = host[layer][which][index]
        host[layer][which][index] = value
        try:
            net.params = [(W, b) for W, b in host]
            return float(net.get_loss(X, Y))
        finally:
            host[layer][which][index] = saved

    checks = []
    try:
        for layer, pair in enumerate(host):
            for which, name in enumerate(("W", "b")):
                array = pair[which]
                indices = list(np.ndindex(array.shape))
                if max_entries is not None and len(indices) > max_entries:
                    chosen = rng.choice(len(indices), size=max_entries, replace=False)
                    indices = [indices[i] for i in sorted(chosen)]
                exact = np.array([grads[layer][which][i] for i in indices], dtype=np.float64)
                numeric = np.array([
                    (loss_at(layer, which, i, float(array[i]) + eps) - loss_at(layer, which, i, float(array[i]) - eps))
                    / (2 * eps)
                    for i in indices
                ])
                scale = max(np.linalg.norm(exact), np.linalg.norm(numeric))
                error = float(np.linalg.norm(exact - numeric) / scale) if scale > 0 else 0.0
                checks.append(ArrayCheck(layer + 1, name, array.shape, len(indices), float(np.linalg.norm(exact)), error))
    finally:
        net.params = original
    net.backward(X, Y)  # leave the gradients of the unperturbed weights stored
    return checks


def format_table(checks: list[ArrayCheck], tolerance: float) -> str:
    """The checks as a text table, one row per array, with a verdict."""
    rows = [("layer", "param", "shape", "checked", "|backprop|", "relative error", "")]
    for c in checks:
        rows.append((
            str(c.layer), c.name, "x".join(map(str, c.shape)), str(c.entries), f"{c.backprop_norm:.3e}",
            f"{c.relative_error:.2e}", "ok" if c.relative_error <= tolerance else "TOO LARGE",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)
