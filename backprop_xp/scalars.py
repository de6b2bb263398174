"""A Python number as the second argument of ``maximum`` or ``minimum``, where the number itself would cost a copy.

The standard lets ``xp.maximum(Z, 0.0)`` take a Python scalar, and NumPy,
CuPy, JAX, array-api-strict and Dask use it as it is. array-api-compat's
torch ``maximum`` and ``minimum`` first turn it into a tensor with
``torch.asarray(0.0, device=Z.device)``: on a GPU that is a copy from the
host, which waits for the device and is forbidden while a CUDA graph is
captured (``compile=True`` on ``torch:cuda``). There, ``xp.full`` makes the
same 0-d array on the device itself (a fill kernel, which a graph may hold).
Elsewhere the number is passed as it is: on JAX, outside ``jax.jit``, a 0-d
array costs 90-180 us to make, four to eight times the ``maximum``. Either
way the values are the same. One answer per namespace, from
array-api-compat's namespace tests, as :mod:`inplace` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import array_api_compat
from array_api_compat import device

if TYPE_CHECKING:
    from ._types import Array, Namespace


def scalar(value: float, like: Array, xp: Namespace) -> Array | float:
    """``value`` for ``xp.maximum(like, ...)`` or ``xp.minimum``: a 0-d array of ``like``'s dtype and device on
    torch, the number itself elsewhere."""
    if array_api_compat.is_torch_namespace(xp):
        return xp.full((), value, dtype=like.dtype, device=device(like))
    return value
