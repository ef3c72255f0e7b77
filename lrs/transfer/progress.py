"""A progress line on stderr: statements done, statements per second, and (when the total is
known) percentage and ETA. Redrawn in place on a terminal, at most every `every` seconds;
elsewhere (a log file) a line at most every `every_plain` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


def duration_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass
class ProgressBar:
    stream: TextIO
    total: int | None = None
    done: int = 0  # already done before this run (resumed imports)
    clock: Callable[[], float] = time.monotonic
    every: float = 0.2
    every_plain: float = 5.0
    _start: float = field(init=False)
    _start_done: int = field(init=False)
    _last_draw: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self._start = self.clock()
        self._start_done = self.done
        self._tty = self.stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if now - self._last_draw >= (self.every if self._tty else self.every_plain):
            self._draw(now)

    def finish(self) -> None:
        self._draw(self.clock())
        if self._tty:
            self.stream.write("\n")
        self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        text = f"{self.done} statements"
        if self.total:
            percent = min(100.0, 100.0 * self.done / self.total)
            text = f"{self.done}/{self.total} statements ({percent:.0f}%)"
            if rate > 0:
                text += f", ETA {duration_text(max(0, self.total - self.done) / rate)}"
        return f"{text}, {rate:.0f} statements/s, {duration_text(elapsed)} elapsed"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if self._tty:
            self.stream.write("\r\x1b[K" + self.line(now))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()
