"""What users pass in, turned into arrays of a network's backend, or refused.

Arrays of the network's own backend and device are used as they are; NumPy
arrays and nested lists are copied to the network's device. Anything else (an
array of another library, or on another device) is refused with an error that
names both sides: nothing is ever copied to or from a GPU behind the user's
back. Every check runs before any state changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj, is_numpy_array

from .backends import library_of
from .backends import (
    to_host as to_host,  # re-exported: plotting, checkpoints and experiment import it from here
)
from .errors import (
    BackendMismatchError,
    DeviceMismatchError,
    DTypeError,
    InputTypeError,
    ShapeError,
)
from .settings import Integer, Real, check

if TYPE_CHECKING:
    from ._types import Array
    from .backends import Backend

def to_backend(
    value: Any,
    backend: Backend,
    *,
    name: str,
    dtype: str,
    keep_integers: bool = False,
    copy: bool = False,
) -> Array:
    """Return ``value`` as an array of ``backend``, on its device, of float dtype ``dtype``.

    With ``keep_integers``, integer and boolean arrays keep their dtype (class
    labels). With ``copy``, the result never shares memory with ``value``.
    NumPy arrays and lists are cast on the host, before they travel.
    """
    if isinstance(value, (list, tuple)) or is_numpy_array(value):
        try:
            host = np.asarray(value)
        except ValueError as exc:
            raise ShapeError(f"{name} must be a rectangular nested list of numbers; {exc}") from None
        if host.dtype.kind not in "biuf":
            raise DTypeError(f"{name} must hold real numbers; received an array of dtype {host.dtype}.")
        if not (keep_integers and host.dtype.kind in "biu"):
            host = host.astype(dtype, copy=False)
        return backend.from_numpy(host, copy=True if copy else None)

    xp = backend.xp
    if not is_array_api_obj(value):
        raise InputTypeError(
            f"{name} must be an array of backend {backend.name!r}, a NumPy array or a nested list; "
            f"received {type(value).__name__}."
        )
    if array_namespace(value) is not xp:
        own = "a NumPy array or a nested list" if backend.library == "numpy" else (
            f"an array of {backend.library}, a NumPy array or a nested list"
        )
        raise BackendMismatchError(
            f"{name} is an array of {library_of(value)}, but this network runs on {backend.name!r}. "
            f"Pass {own}, or create the network with backend={library_of(value)!r}."
        )
    if device(value) != backend.device:
        raise DeviceMismatchError(
            f"{name} is on device {device(value)}, but this network runs on {backend.device}. "
            "Move it there first: backprop_xp copies nothing between devices by itself."
        )
    if any(n is None or n != n for n in value.shape):  # None, or NaN (dask): sizes known only once computed
        raise ShapeError(
            f"{name} has shape {tuple(value.shape)}, with sizes not yet known; the network needs them. "
            "Compute them first (for a dask array: value.compute_chunk_sizes())."
        )
    value = backend.plain(value)
    if keep_integers and xp.isdtype(value.dtype, ("bool", "integral")):
        return xp.asarray(value, copy=True) if copy else value
    if not xp.isdtype(value.dtype, ("bool", "integral", "real floating")):
        raise DTypeError(f"{name} must hold real numbers; received an array of dtype {value.dtype}.")
    target = getattr(xp, dtype)
    if value.dtype != target:
        return xp.astype(value, target)  # a new array
    return xp.asarray(value, copy=True) if copy else value




#: The rules of the settings checked here (see :mod:`settings`).
LEARNING_RATE = (Real(low=0, low_open=True),)
EPOCHS = (Integer(low=1),)
SEED = (Integer(low=0),)  # NumPy's generators take no negative seed


def check_learning_rate(learning_rate: Any) -> float:
    """Return the learning rate as a float if it is a positive, finite number."""
    return check("learning_rate", learning_rate, *LEARNING_RATE)


def check_epochs(epochs: Any) -> int:
    """Return ``epochs`` if it is an integer of at least 1."""
    return check("epochs", epochs, *EPOCHS)


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is an integer of at least 0 (a seed of NumPy's generators)."""
    return check("seed", seed, *SEED)
