"""A training step replayed from captured graphs: CUDA graphs on torch.

``train(..., compile=True)`` on ``torch:cuda`` wraps its step in
:class:`GraphStep`, which captures the step's kernels once per batch shape and
replays them, so that a small network's step costs one launch instead of one
per operation. The capture itself is a function of its own
(:func:`cuda_graph_capture`), so the buffer logic can be tested on the CPU
with a stand-in.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable

from .tree import flatten

if TYPE_CHECKING:
    from ._types import Device


class GraphStep:
    """A training step replayed from captured graphs (CUDA graphs on torch).

    A graph reads and writes fixed buffers, so the parameters and the state
    live in three sets of buffers, and graph ``k`` (one per set, per batch
    shape) reads set ``k`` and writes its results into set ``k + 1`` (mod 3).
    A step's outputs are therefore left alone by the next two calls. A caller
    that needs parameters for longer (the training loop's rollback weights,
    one epoch of many minibatches back) asks :meth:`keep` for them; the loss
    of a call is overwritten three calls later, and :meth:`lasting` gives a
    copy that stays. The batch is copied into the graph's own input buffers
    when a new one comes in (minibatches; the full batch is copied once). A
    short last minibatch gets graphs of its own shape.

    Every output a graph leaves for the caller (the parameters, the state,
    the loss) is copied into a buffer allocated before the capture, so nothing
    allocated inside a graph outlives its replay, and all the graphs of a step
    can share one memory pool (``cuda_graph_capture``).

    ``capture(fns, warm)`` captures each function of ``fns`` into a graph,
    after running ``warm`` (a pure call of the step) to initialise what the
    library initialises lazily, and returns ``(replay, loss)`` per function:
    ``replay()`` reruns the captured work and ``loss`` is the 0-d array it
    writes the loss into.
    """

    def __init__(self, step: Callable[..., Any], capture: Callable[..., list[tuple[Callable[[], None], Any]]]) -> None:
        self.step, self.capture = step, capture
        self.sets: list[list[Any]] = []
        self.rebuild: Callable[[list[Any]], Any] | None = None
        self.batches: dict[tuple[Any, ...], dict[str, Any]] = {}
        # The last two keep() requests that point into a set: (set, holder).
        self.kept: list[tuple[int, dict[str, Any]]] = []

    def _set_of(self, leaves: list[Any]) -> int | None:
        """The index of the set whose first arrays are ``leaves``, or None (arrays from elsewhere)."""
        return next((i for i, held in enumerate(self.sets)
                     if len(leaves) <= len(held) and all(a is b for a, b in zip(held, leaves))), None)

    def keep(self, params: Any) -> Callable[[], Any]:
        """``get()``: ``params`` (outputs of this step, or any arrays), valid until two more ``keep`` calls.

        Nothing is copied until a call is about to overwrite the set that
        holds them: then they are cloned first (at most once per ``keep``).
        Arrays that are not the step's buffers are handed back as they are.
        """
        leaves, rebuild = flatten(params)
        k = self._set_of(leaves)
        if k is None:
            return lambda: params
        holder: dict[str, Any] = {"leaves": leaves}
        self.kept = [*self.kept, (k, holder)][-2:]
        return lambda: rebuild(holder["leaves"])

    def lasting(self, value: Any) -> Any:
        """A copy of a loss this step returned that no later call overwrites (anything else as it is)."""
        if any(value is graph[1] for batch in self.batches.values() for graph in batch["graphs"]):
            return value.clone()
        return value

    def _protect(self, k: int) -> None:
        """Clone the kept arrays that live in set ``k``, which a call is about to overwrite."""
        for j, holder in self.kept:
            if j == k and self._set_of(holder["leaves"]) == k:
                holder["leaves"] = [leaf.clone() for leaf in holder["leaves"]]

    def __call__(self, params: Any, state: Any, X: Any, Y: Any) -> tuple[Any, Any, Any]:
        leaves, rebuild = flatten((params, state))
        if not self.sets:
            self.rebuild = rebuild
            self.sets = [[leaf.clone() for leaf in leaves] for _ in range(3)]
        k = self._set_of(leaves)
        if k is None or len(leaves) != len(self.sets[k]):  # arrays from elsewhere (the first call): copied into set 0
            k = 0
            self._protect(0)
            for held, leaf in zip(self.sets[0], leaves):
                held.copy_(leaf)
        key = (tuple(X.shape), tuple(Y.shape))
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = self._capture(X, Y)
        if not (batch["source"][0] is X and batch["source"][1] is Y):
            batch["X"].copy_(X)
            batch["Y"].copy_(Y)
            batch["source"] = (X, Y)  # kept, so that its identity stays its own
        replay, loss = batch["graphs"][k]
        self._protect((k + 1) % 3)
        replay()
        assert self.rebuild is not None
        new_params, new_state = self.rebuild(self.sets[(k + 1) % 3])
        return loss, new_params, new_state

    def _capture(self, X: Any, Y: Any) -> dict[str, Any]:
        assert self.rebuild is not None
        rebuild, sets = self.rebuild, self.sets
        static_X, static_Y = X.clone(), Y.clone()
        # Where each graph leaves its loss: allocated here, outside the capture.
        losses = [self.sets[0][0].new_zeros(()) for _ in range(3)]

        def warm() -> Any:  # the step's loss: a capture may read its dtype
            return self.step(*rebuild(sets[0]), static_X, static_Y)[0]

        def graph(k: int) -> Callable[[], Any]:
            def run() -> Any:
                loss, params, state = self.step(*rebuild(sets[k]), static_X, static_Y)
                for held, new in zip(sets[(k + 1) % 3], flatten((params, state))[0]):
                    held.copy_(new)
                losses[k].copy_(loss)
                return losses[k]

            return run

        graphs = self.capture([graph(k) for k in range(3)], warm)
        return {"X": static_X, "Y": static_Y, "source": (X, Y), "graphs": graphs, "losses": losses}


class GraphEpochs:
    """Up to ``k`` full-batch epochs of a training step from captured graphs (CUDA graphs on torch).

    :meth:`Backend.compile_epochs` on ``torch:cuda``: a chunk of ``n`` epochs
    is a handful of graph launches rather than ``n``. A graph of ``s`` steps
    runs them back to back on the buffers of the current parameters and state;
    ``n`` epochs replay the graphs of the powers of two that sum to ``n``
    (its binary digits), largest first, so graphs of 1, 2, 4, ... steps serve
    every ``n`` up to ``k``, as one ``jax.lax.fori_loop`` of a traced length
    does on JAX. Each graph is captured when a chunk first needs it (2500
    epochs in chunks of 256 capture the graphs of 256, 128, 64 and 4 steps).

    Each graph writes its epochs' losses into a buffer of its own and, before
    its last step, copies the parameters into the "last start" buffers, so the
    last graph of a chunk leaves there the parameters its ``n``-th update
    started from. Every buffer is allocated before a capture (as in
    :class:`GraphStep`), so all the graphs share one memory pool. A call
    copies the parameters, the state and the batch into the buffers and
    returns copies of the results: nothing it is given is written, and nothing
    it returns is written by a later call. That is what lets the chunk runner
    replay a chunk from its start, and lets one ``GraphEpochs`` serve several
    ``train()`` calls (:mod:`compiled` keeps it) without holding their data.
    """

    def __init__(self, step: Callable[..., Any], k: int, capture: Callable[..., list[tuple[Callable[[], None], Any]]]) -> None:
        self.step, self.k, self.capture = step, k, capture
        self.batches: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.captured = 0  # how many graphs were captured, over every batch shape

    def __call__(self, params: Any, state: Any, X: Any, Y: Any, n: Any) -> tuple[Any, Any, Any, Any]:
        n = operator.index(n)
        if not 1 <= n <= self.k:
            raise ValueError(f"expected 1 <= n <= {self.k} epochs; received {n}")
        leaves, rebuild = flatten((params, state))
        key = (tuple(X.shape), tuple(Y.shape), X.dtype, Y.dtype, tuple((tuple(a.shape), a.dtype) for a in leaves))
        batch = self.batches.get(key)
        if batch is None:
            # Each batch shape holds copies of the batch and the parameters, and its graphs: one at a time.
            self.batches.clear()
            batch = self.batches[key] = self._buffers(leaves, rebuild, flatten(params)[1], X, Y)
        sizes = [1 << j for j in reversed(range(n.bit_length())) if n & (1 << j)]  # n's binary digits, largest first
        self._capture(batch, [s for s in sizes if s not in batch["graphs"]])
        for held, leaf in zip((batch["X"], batch["Y"], *batch["now"]), (X, Y, *leaves)):
            held.copy_(leaf)
        for s in sizes:
            batch["graphs"][s]()
        losses = batch["X"].new_zeros((self.k,))
        done = 0
        for s in sizes:
            losses[done:done + s].copy_(batch["losses"][s])
            done += s
        new_params, new_state = rebuild([held.clone() for held in batch["now"]])
        last_start = batch["rebuild_params"]([held.clone() for held in batch["start"]])
        return losses, new_params, new_state, last_start

    def _buffers(self, leaves: list[Any], rebuild: Callable[[list[Any]], Any],
                 rebuild_params: Callable[[list[Any]], Any], X: Any, Y: Any) -> dict[str, Any]:
        """The buffers the graphs of one batch shape read and write."""
        now = [leaf.clone() for leaf in leaves]  # the current parameters and state: each graph's input and output
        start = [leaf.clone() for leaf in flatten(rebuild(leaves)[0])[0]]  # what a graph's last step started from
        return {"X": X.clone(), "Y": Y.clone(), "now": now, "start": start, "rebuild": rebuild,
                "rebuild_params": rebuild_params, "losses": {}, "graphs": {}}

    def _capture(self, batch: dict[str, Any], sizes: list[int]) -> None:
        """Capture the graphs of ``sizes`` steps for ``batch``'s buffers."""
        if not sizes:
            return
        rebuild, now, start, X, Y = batch["rebuild"], batch["now"], batch["start"], batch["X"], batch["Y"]
        for s in sizes:
            batch["losses"][s] = X.new_zeros((s,))

        def warm() -> Any:
            return self.step(*rebuild(now), X, Y)[0]

        def graph(s: int) -> Callable[[], Any]:
            def run() -> Any:
                params, state = rebuild(now)
                for i in range(s):
                    if i == s - 1:
                        for held, leaf in zip(start, flatten(params)[0]):
                            held.copy_(leaf)
                    loss, params, state = self.step(params, state, X, Y)
                    batch["losses"][s][i].copy_(loss)
                for held, new in zip(now, flatten((params, state))[0]):
                    held.copy_(new)
                return batch["losses"][s][s - 1]

            return run

        captured = self.capture([graph(s) for s in sizes], warm)
        batch["graphs"].update((s, replay) for s, (replay, _) in zip(sizes, captured))
        self.captured += len(sizes)


def cuda_graph_capture(device: Device) -> Callable[..., list[tuple[Callable[[], None], Any]]]:
    """The CUDA-graph capture of one :class:`GraphStep`: warm-up and capture on one side stream, one memory pool.

    torch's documentation of CUDA graphs warms up on a side stream, so that
    cuBLAS handles and other lazy state are made outside the capture; the
    capture is then given that same stream (by default ``torch.cuda.graph``
    captures on an internal stream of its own). All the graphs of the step,
    of every batch shape, share one private memory pool: a graph leaves
    nothing allocated behind (:class:`GraphStep` copies its outputs into
    buffers made before the capture), so one's temporaries may reuse
    another's.
    """
    shared: list[Any] = []  # the pool and the side stream, made at the first capture, then shared

    def capture(fns: list[Callable[[], Any]], warm: Callable[[], Any]) -> list[tuple[Callable[[], None], Any]]:
        import torch

        with torch.cuda.device(device):
            if not shared:
                # One stream for every capture into the pool: the caching allocator reuses a freed
                # block on the stream that freed it only, so captures on new streams would not share.
                shared.extend((torch.cuda.graph_pool_handle(), torch.cuda.Stream()))
            pool, side = shared
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    warm()
            captured = []
            for fn in fns:
                graph = torch.cuda.CUDAGraph()
                # Records the kernels on `side`; runs nothing.
                with torch.cuda.graph(graph, pool=pool, stream=side):
                    loss = fn()
                captured.append((graph.replay, loss))
            torch.cuda.current_stream().wait_stream(side)
        return captured

    return capture


def rerun_capture(fns: list[Callable[[], Any]], warm: Callable[[], Any]) -> list[tuple[Callable[[], None], Any]]:
    """A stand-in for :func:`cuda_graph_capture` on the CPU, for tests and the GPU check's dry run.

    ``replay`` reruns the captured work and writes its loss into a fixed
    array, as a replayed graph does, so :class:`GraphStep`'s buffer logic runs
    as it does on a GPU.
    """
    import torch

    dtype = warm().dtype  # the loss buffer of the step's own dtype, as a graph's is
    captured: list[tuple[Callable[[], None], Any]] = []
    for fn in fns:
        loss = torch.full((), float("nan"), dtype=dtype)

        def replay(fn: Callable[[], Any] = fn, loss: Any = loss) -> None:
            loss.copy_(fn())

        captured.append((replay, loss))
    return captured


def keeper(step: Callable[..., Any] | None) -> Callable[[Any], Callable[[], Any]]:
    """``keep(params) -> get()`` for a compiled step: :meth:`GraphStep.keep`, else ``params`` as they are."""
    keep = getattr(step, "keep", None)
    return keep if keep is not None else lambda params: (lambda: params)


def lasting(step: Callable[..., Any] | None, value: Any) -> Any:
    """A loss returned by ``step`` as a value that its later calls leave alone (:meth:`GraphStep.lasting`)."""
    keep = getattr(step, "lasting", None)
    return keep(value) if keep is not None else value
