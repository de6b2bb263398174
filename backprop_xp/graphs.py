"""A training step replayed from captured graphs: CUDA graphs on torch.

``train(..., compile=True)`` on ``torch:cuda`` wraps its step in
:class:`GraphStep`, which captures the step's kernels once per batch shape and
replays them, so that a small network's step costs one launch instead of one
per operation. The capture itself is a function of its own
(:func:`cuda_graph_capture`), so the buffer logic can be tested on the CPU
with a stand-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .tree import flatten

if TYPE_CHECKING:
    from ._types import Device


class GraphStep:
    """A training step replayed from captured graphs (CUDA graphs on torch).

    A graph reads and writes fixed buffers, so the parameters and the state
    live in three sets of buffers, and graph ``k`` (one per set, per batch
    shape) reads set ``k`` and writes its results into set ``k + 1`` (mod 3).
    A step's outputs are therefore left alone by the next two calls: the
    training loop keeps the parameters of the two epochs before the current
    one, to go back to when the loss stops being finite. The batch is copied
    into the graph's own input buffers when a new one comes in (minibatches;
    the full batch is copied once). A short last minibatch gets graphs of its
    own shape.

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

    def __call__(self, params: Any, state: Any, X: Any, Y: Any) -> tuple[Any, Any, Any]:
        leaves, rebuild = flatten((params, state))
        if not self.sets:
            self.rebuild = rebuild
            self.sets = [[leaf.clone() for leaf in leaves] for _ in range(3)]
        k = next((i for i, held in enumerate(self.sets) if all(a is b for a, b in zip(held, leaves))), None)
        if k is None:  # arrays from elsewhere (the first call): copied into set 0
            k = 0
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
        replay()
        assert self.rebuild is not None
        new_params, new_state = self.rebuild(self.sets[(k + 1) % 3])
        return loss, new_params, new_state

    def _capture(self, X: Any, Y: Any) -> dict[str, Any]:
        assert self.rebuild is not None
        rebuild, sets = self.rebuild, self.sets
        static_X, static_Y = X.clone(), Y.clone()

        def warm() -> None:
            self.step(*rebuild(sets[0]), static_X, static_Y)

        def graph(k: int) -> Callable[[], Any]:
            def run() -> Any:
                loss, params, state = self.step(*rebuild(sets[k]), static_X, static_Y)
                for held, new in zip(sets[(k + 1) % 3], flatten((params, state))[0]):
                    held.copy_(new)
                return loss

            return run

        graphs = self.capture([graph(k) for k in range(3)], warm)
        return {"X": static_X, "Y": static_Y, "source": (X, Y), "graphs": graphs}


def cuda_graph_capture(device: Device) -> Callable[..., list[tuple[Callable[[], None], Any]]]:
    def capture(fns: list[Callable[[], Any]], warm: Callable[[], None]) -> list[tuple[Callable[[], None], Any]]:
        import torch

        with torch.cuda.device(device):
            # Warm-up on a side stream, as torch's documentation of CUDA graphs
            # asks: cuBLAS handles and other lazy state are made outside the capture.
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    warm()
            torch.cuda.current_stream().wait_stream(side)
            captured = []
            for fn in fns:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):  # records the kernels; runs nothing
                    loss = fn()
                captured.append((graph.replay, loss))
        return captured

    return capture
