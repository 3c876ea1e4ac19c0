"""A progress bar for long operator commands, with no dependency: redrawn in place on a
terminal, a line every tenth of the way elsewhere (CI logs, pipes)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    WIDTH = 30

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._interactive = self.stream.isatty()
        self._last_tenth = -1

    def advance(self, amount: int) -> None:
        self.done += amount
        tenth = self.done * 10 // max(self.total, 1)
        if self._interactive:
            self.stream.write("\r" + self._line())
            self.stream.flush()
        elif tenth != self._last_tenth:
            self.stream.write(self._line() + "\n")
            self._last_tenth = tenth

    def finish(self) -> None:
        if self._interactive:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self) -> str:
        share = self.done / max(self.total, 1)
        filled = int(share * self.WIDTH)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return (
            f"{self.label} [{bar}] {self.done}/{self.total} {share:4.0%} "
            f"{self.done / elapsed:,.0f}/s"
        )
