"""Backprop's gradients against central finite differences, layer by layer.

For each parameter array, ``relative error = ||g - g_fd|| / max(||g||, ||g_fd||)``
over the entries checked (all of them, or a seeded sample of large arrays).
The losses are evaluated on the network's own backend and device; in float64
a correct backward pass gives errors around 1e-9 or less.

A central difference is only a derivative where the loss is smooth between
``w - eps`` and ``w + eps``. relu has a kink at 0: where nudging one weight
moves a relu unit's pre-activation across 0 for some sample (relu's biases
start at 0, so they often sit on it), the difference averages two slopes and
disagrees with backprop's one-sided derivative, correctly. Such *kink entries*
are found exactly (the unit is active at one end of the step and not at the
other) and reported apart; the verdict is taken on the other entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import equations
from .network import NeuralNetwork
from .settings import Integer, Real, check

#: The largest relative error a correct gradient shows, by dtype, at the default step.
TOLERANCE = {"float64": 1e-6, "float32": 1e-2}
#: The default finite-difference step, by dtype.
STEP = {"float64": 1e-6, "float32": 1e-2}
#: The rules of gradient_check()'s settings (see :mod:`settings`).
EPS = (Real(low=0, low_open=True), None)
MAX_ENTRIES = (Integer(low=1), None)
#: Activations with a kink (a point where the derivative jumps), and where it is: relu at 0.
KINKED = ("relu",)


@dataclass(frozen=True)
class ArrayCheck:
    """The comparison for one parameter array."""

    layer: int  # from 1, as in the equations
    name: str  # "W" or "b"
    shape: tuple[int, ...]
    entries: int  # how many entries were checked
    backprop_norm: float
    relative_error: float  # over the entries checked that straddle no kink (0.0 if none)
    kink_entries: int = 0  # entries whose step moved a relu pre-activation across 0
    kink_error: float = math.nan  # the relative error over those (NaN if none)

    def passes(self, tolerance: float) -> bool:
        """Whether the entries away from kinks agree within ``tolerance``."""
        return self.relative_error <= tolerance


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
        The step (default: ``STEP[net.dtype]``). An entry whose step moves a
        relu pre-activation across 0 is a kink entry, counted apart.
    max_entries : int or None
        Per array, check at most this many entries, drawn with ``seed``; None checks all.

    Returns
    -------
    list of ArrayCheck, W then b, layer by layer
    """
    eps = check("eps", eps, *EPS, none="for the dtype's default step")
    eps = STEP[net.dtype] if eps is None else eps
    max_entries = check("max_entries", max_entries, *MAX_ENTRIES, none="for all")
    X, Y = net.as_arrays(x, y)
    backend = net.backend
    original = net.params
    host = [list(pair) for pair in net.host_params()]
    grads = [(backend.to_numpy(dW), backend.to_numpy(db)) for dW, db in net.backward(X, Y)]
    rng = np.random.default_rng(seed)

    kinked = [i for i, name in enumerate(net.architecture.activations) if name in KINKED]

    def loss_at(layer: int, which: int, index: tuple[int, ...], value: float) -> tuple[float, list[np.ndarray]]:
        """The loss with one entry set to ``value``, and which relu units are active for each sample."""
        saved = host[layer][which][index]
        host[layer][which][index] = value
        try:
            net.params = [(W, b) for W, b in host]
            active = []
            if kinked:
                A = equations.forward(net.params, X, net.architecture, xp=backend.xp)
                active = [backend.to_numpy(A[i + 1]) > 0 for i in kinked]
            return float(net.get_loss(X, Y)), active
        finally:
            host[layer][which][index] = saved

    def difference(layer: int, which: int, index: tuple[int, ...]) -> tuple[float, bool]:
        """The central difference at one entry, and whether its step straddles a kink."""
        value = float(host[layer][which][index])
        (up, active_up), (down, active_down) = (loss_at(layer, which, index, value + s * eps) for s in (1, -1))
        straddles = any(not np.array_equal(a, b) for a, b in zip(active_up, active_down))
        return (up - down) / (2 * eps), straddles

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
                numeric, kink = (np.array(column) for column in zip(*(difference(layer, which, i) for i in indices)))
                kink = kink.astype(bool)
                checks.append(ArrayCheck(
                    layer + 1, name, array.shape, len(indices), float(np.linalg.norm(exact)),
                    _relative_error(exact[~kink], numeric[~kink]), int(kink.sum()),
                    _relative_error(exact[kink], numeric[kink]) if kink.any() else math.nan,
                ))
    finally:
        net.params = original
    net.backward(X, Y)  # leave the gradients of the unperturbed weights stored
    return checks


def _relative_error(exact: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.linalg.norm(exact), np.linalg.norm(numeric))
    return float(np.linalg.norm(exact - numeric) / scale) if scale > 0 else 0.0


def format_table(checks: list[ArrayCheck], tolerance: float) -> str:
    """The checks as a text table, one row per array, with a verdict; kink entries in columns of their own."""
    kinks = any(c.kink_entries for c in checks)
    rows = [("layer", "param", "shape", "checked", "|backprop|", "relative error", "", *(
        ("at a kink", "error there") if kinks else ()))]
    for c in checks:
        rows.append((
            str(c.layer), c.name, "x".join(map(str, c.shape)), str(c.entries), f"{c.backprop_norm:.3e}",
            f"{c.relative_error:.2e}", "ok" if c.passes(tolerance) else "TOO LARGE", *((
                str(c.kink_entries), f"{c.kink_error:.2e}" if c.kink_entries else "") if kinks else ()),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


def verdict(checks: list[ArrayCheck], tolerance: float) -> str:
    """One sentence on the check: agree or disagree, away from kinks, and what the kink entries did."""
    worst = max(c.relative_error for c in checks)
    agree = all(c.passes(tolerance) for c in checks)
    kinks = sum(c.kink_entries for c in checks)
    away = " away from relu's kink" if kinks else ""
    text = (
        f"backprop's gradients {'agree with' if agree else 'DISAGREE with'} finite differences{away}: "
        f"largest relative error {worst:.2e} (tolerance {tolerance:g})"
    )
    if kinks:
        worst_kink = max(c.kink_error for c in checks if c.kink_entries)
        text += (
            f". {kinks} entries were left out of the verdict: their step moved a relu pre-activation across 0, "
            f"where relu has no derivative and a central difference averages two slopes (relative error there "
            f"{worst_kink:.2e})"
        )
        if agree and worst_kink > tolerance:
            text += ". Only those disagree: backprop is right"
    return text + "."
