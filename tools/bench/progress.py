"""Progress on stderr: one line per phase, a live counter with its rate while a phase runs."""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Meter:
    """`label  n/total  rate/s` rewritten in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total: int | None = None, unit: str = "events") -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.count = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._tty = sys.stderr.isatty()

    def set(self, count: int, extra: str = "") -> None:
        self.count = count
        now = time.monotonic()
        if now - self._shown >= (0.2 if self._tty else 3.0):
            self._shown = now
            self._show(extra, end="\r" if self._tty else "\n")

    def add(self, count: int) -> None:
        self.set(self.count + count)

    def done(self, extra: str = "") -> float:
        seconds = time.monotonic() - self.started
        self._show(extra, end="\n")
        return seconds

    def _show(self, extra: str, end: str) -> None:
        seconds = max(time.monotonic() - self.started, 1e-9)
        total = f"/{self.total:,}" if self.total else ""
        bar = ""
        if self.total:
            filled = int(30 * min(self.count / self.total, 1.0))
            bar = "[" + "#" * filled + "." * (30 - filled) + "] "
        line = (
            f"[bench] {self.label:<22} {bar}{self.count:,}{total} {self.unit}  "
            f"{self.count / seconds:,.0f}/s  {seconds:5.1f} s {extra}"
        )
        print(line.ljust(110), end=end, file=sys.stderr, flush=True)
