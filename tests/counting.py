"""A namespace that counts the array operations run through it, for any backend.

``CountingNamespace(xp)`` stands in for ``xp``: its functions, and the
operators and ``.T`` of the arrays it hands out (:class:`Counted`), call the
real ones and add one to ``counts[name]`` each. The equations take ``xp`` as
an argument, so a step run on counted arrays with the counting namespace
reports every operation it launches: on torch, each is a dispatch that costs
microseconds whatever the size of the arrays.
"""

from __future__ import annotations

import collections
from typing import Any

_OPERATORS = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__matmul__", "__pow__", "__neg__", "__ge__", "__gt__", "__le__", "__lt__", "__eq__", "__and__", "__or__",
    "__getitem__",
)
_IN_PLACE = ("__iadd__", "__isub__", "__imul__", "__itruediv__")


def _unwrap(value: Any) -> Any:
    if isinstance(value, Counted):
        return value.array
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    return value


class Counted:
    """An array whose operators are counted in ``counts``."""

    __slots__ = ("array", "counts")

    def __init__(self, array: Any, counts: collections.Counter) -> None:
        self.array, self.counts = array, counts

    shape = property(lambda self: self.array.shape)
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: self.array.ndim)
    device = property(lambda self: self.array.device)

    @property
    def T(self) -> Counted:
        self.counts["T"] += 1
        return Counted(self.array.T, self.counts)

    def __float__(self) -> float:
        return float(self.array)

    def __bool__(self) -> bool:
        return bool(self.array)


def _operator(name: str):
    def op(self: Counted, *args: Any) -> Any:
        self.counts[name] += 1
        return _wrap(getattr(self.array, name)(*_unwrap(args)), self.counts)

    return op


def _in_place(name: str):
    plain = name.replace("__i", "__", 1)

    def op(self: Counted, other: Any) -> Counted:
        # One operation either way: written in place where the array has the
        # operator, else the result is rebound (immutable JAX, lazy Dask), as Python does.
        self.counts[name] += 1
        method = getattr(self.array, name, None)
        result = method(_unwrap(other)) if method is not None else NotImplemented
        if result is NotImplemented:
            result = getattr(self.array, plain)(_unwrap(other))
        self.array = result
        return self

    return op


for _name in _OPERATORS:
    setattr(Counted, _name, _operator(_name))
for _name in _IN_PLACE:
    setattr(Counted, _name, _in_place(_name))


def _wrap(value: Any, counts: collections.Counter) -> Any:
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_wrap(v, counts) for v in value)
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Counted):
        return Counted(value, counts)
    return value


class CountingNamespace:
    """``xp``, with every function call counted in ``counts`` and its array results :class:`Counted`."""

    def __init__(self, xp: Any) -> None:
        self.xp, self.counts = xp, collections.Counter()

    def __hash__(self) -> int:
        return hash(self.xp)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.xp, name)
        if not callable(value) or isinstance(value, type) or name in ("finfo", "iinfo", "isdtype"):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return _wrap(value(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}), self.counts)

        return call

    def wrap(self, tree: Any) -> Any:
        """Arrays (or lists, tuples and NamedTuples of them: params, an optimiser's state) as counted arrays."""
        if isinstance(tree, (list, tuple)):
            values = [self.wrap(v) for v in tree]
            return type(tree)(*values) if hasattr(tree, "_fields") else type(tree)(values)
        return Counted(tree, self.counts) if hasattr(tree, "shape") else tree

    def total(self) -> int:
        return sum(self.counts.values())
