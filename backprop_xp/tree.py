"""Trees of arrays: parameters ``[(W, b), ...]``, gradients, an optimiser's
state (a NamedTuple of such lists) and the tuples that hold them together.

A tree is a list, a tuple or a NamedTuple of trees, ``None`` (an empty tree:
SGD's state) or a leaf (anything else: an array, a number). The one walker
over them, for the three places that need one: the optimiser's counters made
arrays before a compiled step, a CUDA graph's buffers, and Dask's results.
"""

from __future__ import annotations

from typing import Any, Callable


def flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves of ``tree``, in order, and a function that rebuilds its structure from new leaves."""
    leaves: list[Any] = []

    def walk(node: Any) -> Callable[[Any], Any]:
        if node is None:
            return lambda it: None
        if isinstance(node, (list, tuple)):
            builds = [walk(v) for v in node]
            kind = type(node)  # the type only: a rebuild must not keep the tree's arrays alive
            if hasattr(node, "_fields"):  # a NamedTuple: built from its fields, not from one iterable
                return lambda it: kind(*(b(it) for b in builds))
            return lambda it: kind(b(it) for b in builds)
        leaves.append(node)
        return lambda it: next(it)

    build = walk(tree)
    return leaves, lambda new: build(iter(new))


def map_leaves(function: Callable[[Any], Any], tree: Any) -> Any:
    """``tree`` with each leaf replaced by ``function(leaf)``, of the same structure."""
    leaves, rebuild = flatten(tree)
    return rebuild([function(leaf) for leaf in leaves])
