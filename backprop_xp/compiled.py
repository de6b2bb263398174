"""Compiled training programs kept across ``train()`` calls, so that a second
``train(..., compile=True)`` of the same kind compiles nothing.

A compiled program is looked up by the backend, the architecture, the
optimiser (with its settings) and the learning rate; ``jax.jit`` keeps one
compilation per batch shape and dtype under it. Only programs that return new
arrays are cached: every ``jax.jit`` program, and the chunks of epochs of CUDA
graphs (:class:`graphs.GraphEpochs` returns copies of its buffers). A CUDA
graph step (:class:`graphs.GraphStep`) writes its results into buffers of its
own, which a network trained earlier may still hold as its weights, so it is
made anew for each call.

A kept chunk of CUDA graphs holds device memory while it is kept: a copy of
the full batch, two of the parameters and state, and its graphs' pool; so
only the last :data:`MAX_KEPT_GRAPHS` of them are kept, and :func:`clear`
frees them all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import Backend

#: Compilers whose compiled steps may be shared between train() calls.
CACHED_COMPILERS = ("jax.jit",)
#: Compilers whose compiled chunks of epochs may be shared between train() calls.
CACHED_EPOCH_COMPILERS = ("jax.jit", "cuda graph")
#: How many compiled programs are kept (least recently used dropped first).
MAX_KEPT = 32
#: How many of them may be chunks of CUDA graphs, which hold device memory.
MAX_KEPT_GRAPHS = 2

_kept: OrderedDict[Hashable, Any] = OrderedDict()
_kept_graphs: OrderedDict[Hashable, Any] = OrderedDict()


def _cached(kept: OrderedDict[Hashable, Any], limit: int, key: Hashable, make: Callable[[], Any]) -> Any:
    """``kept[key]``, made by ``make()`` if missing; at most ``limit`` kept, the least recently used dropped first."""
    if key in kept:
        kept.move_to_end(key)
        return kept[key]
    value = kept[key] = make()
    while len(kept) > limit:
        kept.popitem(last=False)
    return value


def compiled_step(backend: Backend, key: Hashable, build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """``backend.compile(build())``, made once per ``key`` where the compiler allows.

    ``key`` must identify what ``build`` closes over: the architecture, the
    optimiser and its settings, the learning rate.
    """
    if backend.compiler not in CACHED_COMPILERS:
        return backend.compile(build())
    return _cached(_kept, MAX_KEPT, ("step", backend.name, key), lambda: backend.compile(build()))


def compiled_epochs(
    backend: Backend, key: Hashable, build: Callable[[], Callable[..., Any]], k: int
) -> Callable[..., Any] | None:
    """``backend.compile_epochs(build(), k)``, made once per ``key`` and ``k``; None where the backend has none."""
    if backend.compiler not in CACHED_EPOCH_COMPILERS:
        return backend.compile_epochs(build(), k)
    kept, limit = (_kept_graphs, MAX_KEPT_GRAPHS) if backend.compiler == "cuda graph" else (_kept, MAX_KEPT)
    return _cached(kept, limit, ("epochs", backend.name, key, k), lambda: backend.compile_epochs(build(), k))


def clear() -> None:
    """Forget every kept program (their compilations, and CUDA graphs' memory, go when nothing else holds them)."""
    _kept.clear()
    _kept_graphs.clear()
