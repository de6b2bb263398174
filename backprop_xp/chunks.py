"""Full-batch training in chunks of epochs, each chunk one compiled dispatch.

The eager loop reads each epoch's loss on the host before the next epoch, for
the divergence check, early stopping and the callback; on a small network
that round trip costs more than the epoch. Here a chunk of up to ``k`` epochs
runs as one program (:meth:`Backend.compile_epochs`), and the host then walks
its losses in order with the same rules, once per chunk. Where the eager loop
would have stopped inside a chunk (early stopping, a non-finite loss), the
weights it would have kept are recomputed by replaying the chunk from its
start for the right number of epochs: the same program, so the same numbers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._types import Array, Params

#: Epochs per dispatch: enough to make the launch negligible on the lab's
#: network (a dispatch costs about 100 us, an epoch a few), few enough that an
#: early stop wastes little.
EPOCHS_PER_CHUNK = 256


@dataclass
class ChunkedRun:
    """What :func:`run_in_chunks` leaves: as the eager loop would have left it."""

    params: Params  # the weights to keep: after the last epoch run, or, on divergence, those to go back to
    state: Any
    losses: list[float]  # one per epoch run; on divergence, the last is the non-finite one
    diverged: bool
    last_start: Params  # the weights the last epoch run started from


def run_in_chunks(
    run: Callable[..., Any],
    params: Params,
    state: Any,
    X: Array,
    Y: Array,
    epochs: int,
    k: int,
    *,
    on_epoch: Callable[[int, float, Callable[[], Array]], bool] | None,
    to_host: Callable[[Array], Any],
) -> ChunkedRun:
    """Train for up to ``epochs`` full-batch epochs, ``k`` per call of ``run`` (see :meth:`Backend.compile_epochs`).

    Per epoch, in order: a non-finite loss ends the run (``diverged``; the
    weights are those of the start of the epoch before, the last with a
    finite loss); otherwise ``on_epoch(i, loss, loss_array)`` is called, if
    given (``i`` counts the epochs of this run from 0; the loss as a float,
    and a function that returns it as the program's 0-d array: indexing a
    device array costs more than a small epoch, so only a callback asks for
    it), and may end the run by returning True (early stopping, a callback).
    Without ``on_epoch`` the host's work is one check per chunk. ``to_host``
    makes a NumPy array of the chunk's losses.
    """
    losses: list[float] = []
    before = params  # the weights at the start of the previous epoch (the initial ones at first)
    done = 0
    while done < epochs:
        n = min(k, epochs - done)
        chunk_losses, end_params, end_state, last_start = run(params, state, X, Y, n)
        host = np.asarray(to_host(chunk_losses))[:n]
        finite = np.isfinite(host)
        good = n if finite.all() else int(np.argmin(finite))  # the epochs before the first non-finite loss
        values = host.tolist()
        if on_epoch is None:
            losses.extend(values[:good])
        else:
            for j in range(good):
                losses.append(values[j])
                if on_epoch(done + j, values[j], partial(operator.getitem, chunk_losses, j)):
                    if j == n - 1:  # at the chunk's end: its results are the ones to keep
                        return ChunkedRun(end_params, end_state, losses, False, last_start)
                    stopped, stopped_state, stopped_start = _replay(run, params, state, X, Y, j + 1)
                    return ChunkedRun(stopped, stopped_state, losses, False, stopped_start)
        if good < n:
            losses.append(values[good])
            # Back to the start of the epoch before this one: in this chunk
            # (replayed for good - 1 epochs) or the last epoch of the chunk before.
            keep = _replay(run, params, state, X, Y, good - 1)[0] if good >= 1 else before
            return ChunkedRun(keep, state, losses, True, keep)
        done += n
        before = last_start
        params, state = end_params, end_state
    return ChunkedRun(params, state, losses, False, before)


def _replay(run: Callable[..., Any], params: Params, state: Any, X: Array, Y: Array, n: int) -> tuple[Any, Any, Any]:
    """The parameters, state and last start after ``n`` epochs from a chunk's start (``n = 0``: the start)."""
    if n <= 0:
        return params, state, params
    _, params_n, state_n, start_n = run(params, state, X, Y, n)
    return params_n, state_n, start_n
