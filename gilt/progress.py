"""A dependency-free progress bar on stderr: redrawn in place on a terminal, one line per 10%
elsewhere (CI logs stay short)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    def __init__(self, total: int, label: str = "", *, stream=None, width: int = 30):
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        self.total, self.label, self.width = total, label, width
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.start = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1

    def step(self, what: str = "", n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        frac = 1.0 if self.total == 0 else self.done / self.total
        elapsed = time.perf_counter() - self.start
        filled = int(round(frac * self.width))
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.done}/{self.total} {elapsed:5.1f}s {what}")
        if self._tty:
            self.stream.write("\r" + line[:120].ljust(120))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            decile = int(frac * 10)
            if decile != self._last_decile or self.done == self.total:
                self._last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()


def track(items: Iterable[T], total: int, label: str = "", *, stream=None) -> Iterator[T]:
    bar = Progress(total, label, stream=stream)
    for item in items:
        yield item
        bar.step()
