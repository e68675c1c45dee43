"""A small progress bar for management commands: redraws in place on a terminal, prints a line every 10 %
otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int, *, label: str = "", stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self._last_decile = -1
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, done: int, extra: str = "") -> None:
        frac = 1.0 if self.total == 0 else min(1.0, done / self.total)
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        filled = int(frac * self.width)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
            f"{frac:4.0%} {rate:6.1f}/s eta {eta:4.0f}s {extra}"
        ).rstrip()
        if self._tty:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
