"""Whether a step may overwrite the arrays it made itself: one answer per namespace.

The equations are written as pure functions, and stay so for the caller: they
never write into an argument (the user's data, the parameters, a list of
activations handed in). But a step makes many arrays that it uses once and
drops, and on a library with mutable arrays the next operation can write into
one of those instead of allocating another: the bias added into the fresh
``Z = A @ W``, a derivative's product into the activation the backward pass no
longer needs. That saves time and memory (a large step's peak) and changes no
value: the in-place forms do the same operations, in the same order.

Where arrays are immutable (JAX, also under ``jax.jit``) or lazy (Dask, whose
graph would gain nothing), the same code takes the out-of-place form. The
answer comes from array-api-compat's namespace tests, so it needs no entry in
the backend table; a namespace this module does not know gets the safe answer
(no overwriting).

On torch, an array that autograd recorded must not be overwritten if autograd
is later asked for gradients through it; the engine computes its gradients by
hand and is not meant to run under autograd (``Backend.plain`` drops that
history), so it does not check.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import array_api_compat

if TYPE_CHECKING:
    from ._types import Array, Namespace


@functools.cache
def may_overwrite(xp: Namespace) -> bool:
    """True if arrays of ``xp`` are mutable and eager, so a step may update its own temporaries in place.

    NumPy, torch, CuPy and array-api-strict: True. JAX, Dask and any namespace
    not recognised: False.
    """
    return bool(
        array_api_compat.is_numpy_namespace(xp)
        or array_api_compat.is_torch_namespace(xp)
        or array_api_compat.is_cupy_namespace(xp)
        or array_api_compat.is_array_api_strict_namespace(xp)
    )


def add_into(Z: Array, b: Array, xp: Namespace) -> Array:
    """``Z + b``, written into ``Z`` where the namespace allows. ``Z`` must be the caller's own temporary."""
    if may_overwrite(xp):
        Z += b
        return Z
    return Z + b
