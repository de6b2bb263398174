"""The one walker over trees of arrays (parameters, gradients, optimiser states)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from backprop_xp.tree import flatten, map_leaves


class State(NamedTuple):
    step: float
    moments: list


def test_flatten_finds_the_leaves_in_order_and_rebuilds_the_structure():
    tree = ([(1, 2), (3, 4)], State(5.0, [(6, 7)]), None)
    leaves, rebuild = flatten(tree)
    assert leaves == [1, 2, 3, 4, 5.0, 6, 7]
    rebuilt = rebuild([10 * v for v in leaves])
    assert rebuilt == ([(10, 20), (30, 40)], State(50.0, [(60, 70)]), None)
    assert type(rebuilt[1]) is State and type(rebuilt[0]) is list and type(rebuilt[0][0]) is tuple


def test_map_leaves_keeps_none_as_an_empty_tree():
    assert map_leaves(lambda v: v + 1, None) is None
    assert map_leaves(lambda v: -v, State(1.0, [])) == State(-1.0, [])
    assert map_leaves(str, [1, (2, None)]) == ["1", ("2", None)]


def test_a_rebuild_keeps_no_leaf_of_the_tree_it_came_from_alive():
    # A kept compiled program (a CUDA graph's GraphEpochs) holds a rebuild: it must not hold the first call's arrays.
    import gc
    import weakref

    leaf = np.zeros(3)
    watch = weakref.ref(leaf)
    rebuild = flatten([(leaf, leaf), (leaf,)])[1]
    del leaf
    gc.collect()
    assert watch() is None
    assert rebuild([1, 2, 3]) == [(1, 2), (3,)]
