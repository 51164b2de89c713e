"""A progress bar for long batches: redrawn in place on a terminal, silent elsewhere.

The per-row lines (``[3/20] line 4 (K-0003): created``) are the record and
go to stdout either way; the bar only tells a person at a terminal how far
the run is, so it goes to stderr and only when that is a TTY (a log file or
a pipe would fill with redraws).
"""

import sys
from typing import TextIO

WIDTH = 30


def bar(done: int, total: int, label: str = "", width: int = WIDTH) -> str:
    """``[#########.....]  9/20 K-0009`` for ``done`` of ``total``."""
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total} {label}".rstrip()


class Progress:
    """Counts finished rows and redraws the bar; ``line`` prints a row's record."""

    def __init__(self, total: int, out: TextIO | None = None, bar_stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.out = out or sys.stdout
        stream = bar_stream if bar_stream is not None else sys.stderr
        self.bar_stream = stream if stream.isatty() else None

    def line(self, text: str) -> None:
        """Print one row's record, then the bar again below it."""
        self._clear()
        print(text, file=self.out, flush=True)
        self._draw("")

    def advance(self, label: str) -> None:
        self.done += 1
        self._draw(label)

    def finish(self) -> None:
        if self.bar_stream is not None:
            self.bar_stream.write("\n")
            self.bar_stream.flush()

    def _clear(self) -> None:
        if self.bar_stream is not None:
            self.bar_stream.write("\r\033[K")

    def _draw(self, label: str) -> None:
        if self.bar_stream is not None:
            self.bar_stream.write("\r\033[K" + bar(self.done, self.total, label))
            self.bar_stream.flush()
