"""A one-line progress bar for training, drawn only where a person watches.

It writes to a terminal only: when the stream is a file or a pipe (CI logs,
``| tee``), or when asked to be quiet, it writes nothing, so logs hold just
the summary line. It redraws at most ten times a second.
"""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """``epoch 1200/2500 [##############----------------] loss 0.012345``, redrawn in place."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool = True, interval: float = 0.1) -> None:
        self.total, self.stream, self.interval = total, stream, interval
        self.enabled = enabled and _is_terminal(stream)
        self._last = -float("inf")
        self._drawn = False
        self._latest: tuple[int, float] | None = None  # an update not drawn yet

    def update(self, epoch: int, loss: float) -> None:
        if not self.enabled:
            return
        self._latest = (epoch, loss)
        now = time.monotonic()
        if now - self._last < self.interval and epoch != self.total:
            return
        self._last = now
        self._draw(epoch, loss)

    def _draw(self, epoch: int, loss: float) -> None:
        filled = round(WIDTH * epoch / self.total)
        digits = len(str(self.total))
        self.stream.write(
            f"\repoch {epoch:{digits}d}/{self.total} [{'#' * filled}{'-' * (WIDTH - filled)}] loss {loss:.6f}"
        )
        self.stream.flush()
        self._drawn = True
        self._latest = None

    def close(self) -> None:
        """Draw the last update (a run may stop early), and end the bar's line."""
        if self._latest is not None:
            self._draw(*self._latest)
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
