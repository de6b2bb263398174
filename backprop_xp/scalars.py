"""A Python number as a 0-d array of another array's dtype and device, for ``maximum`` and ``minimum``.

The standard lets ``xp.maximum(Z, 0.0)`` take a Python scalar, and NumPy,
CuPy and JAX use it as it is. array-api-compat's torch ``maximum`` and
``minimum`` first turn it into a tensor with ``torch.asarray(0.0,
device=Z.device)``: on a GPU that is a copy from the host, which waits for
the device and is forbidden while a CUDA graph is captured
(``compile=True`` on ``torch:cuda``). ``xp.full`` makes the same 0-d array
on the device itself (a fill kernel, which a graph may hold), and gives the
same values on every backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from array_api_compat import device

if TYPE_CHECKING:
    from ._types import Array, Namespace


def scalar(value: float, like: Array, xp: Namespace) -> Array:
    """``value`` as a 0-d array of ``like``'s dtype, on ``like``'s device."""
    return xp.full((), value, dtype=like.dtype, device=device(like))
