"""What users pass in, turned into arrays of a network's backend, or refused.

Arrays of the network's own backend and device are used as they are; NumPy
arrays and nested lists are copied to the network's device. Anything else (an
array of another library, or on another device) is refused with an error that
names both sides: nothing is ever copied to or from a GPU behind the user's
back. Every check runs before any state changes.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
from array_api_compat import array_namespace, device, is_array_api_obj, is_numpy_array

from .backends import library_of

if TYPE_CHECKING:
    from ._types import Array
    from .backends import Backend

_NUMERIC_KINDS = ("bool", "integral", "real floating")


def to_backend(value: Any, backend: Backend, *, name: str) -> Array:
    """Return ``value`` as an array of ``backend`` on its device, dtype unchanged."""
    if isinstance(value, (list, tuple)) or is_numpy_array(value):
        try:
            host = np.asarray(value)
        except ValueError as exc:
            raise ValueError(f"{name} must be a rectangular nested list of numbers; {exc}") from None
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; received an array of dtype {host.dtype}.")
        return backend.from_numpy(host)
    if not is_array_api_obj(value):
        raise TypeError(
            f"{name} must be an array of backend {backend.name!r}, a NumPy array or a nested list; "
            f"received {type(value).__name__}."
        )
    if array_namespace(value) is not backend.xp:
        raise TypeError(
            f"{name} is a {library_of(value)} array, but this network runs on {backend.name!r}. "
            f"Pass a {backend.library} array (or a NumPy array), or create the network with "
            f"backend={library_of(value)!r}."
        )
    if device(value) != backend.device:
        raise ValueError(
            f"{name} is on device {device(value)}, but this network runs on {backend.device}. "
            "Move it there first: backprop_xp copies nothing between devices by itself."
        )
    if not any(backend.xp.isdtype(value.dtype, kind) for kind in _NUMERIC_KINDS):
        raise TypeError(f"{name} must hold real numbers; received an array of dtype {value.dtype}.")
    return value


def check_learning_rate(learning_rate: Any) -> float:
    """Return the learning rate as a float if it is a positive, finite number."""
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not math.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        raise ValueError(f"The learning rate must be a positive, finite number; received {learning_rate!r}.")
    return float(learning_rate)


def check_epochs(epochs: Any) -> int:
    """Return ``epochs`` if it is an integer of at least 1."""
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs must be an integer of at least 1; received {epochs!r}.")
    return int(epochs)
