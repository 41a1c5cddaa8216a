"""Read the worker's "usage batch applied" log lines: when each batch became durable, and which offsets it held.

The usage consumer logs one JSON line per batch after its transaction commits, with `persisted_at` (wall-clock
seconds taken right after the commit returned) and `ranges` ({"topic:partition": [first, next offset]}). That
is the cheapest exact answer to "when was this event persisted": no per-event column, no polling of PostgreSQL.
Pure: lines in, marks and times out.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

BATCH_EVENT = "usage batch applied"
_LOOK_BACK = 16


@dataclass(frozen=True)
class BatchMark:
    persisted_at: float
    received: int
    rated: int
    ranges: Mapping[int, tuple[int, int]]  # partition -> [first, next) offsets


def parse_marks(lines: Iterable[bytes | str]) -> list[BatchMark]:
    """The batch marks among log lines; anything else (other events, console lines, garbage) is skipped."""
    marks = []
    for line in lines:
        text = line if isinstance(line, str) else line.decode("utf-8", "replace")
        if BATCH_EVENT not in text:
            continue
        try:  # a terminal escape (Faust's cursor reset) may precede the JSON on a line
            doc = orjson.loads(text[text.find("{") :])
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or doc.get("event") != BATCH_EVENT or "persisted_at" not in doc:
            continue
        ranges = {int(key.rsplit(":", 1)[1]): (int(span[0]), int(span[1])) for key, span in doc["ranges"].items()}
        marks.append(BatchMark(float(doc["persisted_at"]), int(doc["received"]), int(doc["rated"]), ranges))
    return marks


class LogFollower:
    """Reads a growing log file from where it stopped last time; complete lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.position = path.stat().st_size if path.exists() else 0
        self.marks: list[BatchMark] = []

    def poll(self) -> list[BatchMark]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.position)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.position += len(complete)
        fresh = parse_marks(complete.splitlines())
        self.marks += fresh
        return fresh

    @property
    def received(self) -> int:
        return sum(m.received for m in self.marks)


def steady_rate(marks: Sequence[BatchMark]) -> float | None:
    """Rated events per second between the first and the last batch commit.

    The first batch's events are left out of the count, since its start is not observed: this measures the
    processing rate, not the worker's start-up or its consumer-group join.
    """
    if len(marks) < 2:
        return None
    ordered = sorted(marks, key=lambda m: m.persisted_at)
    seconds = ordered[-1].persisted_at - ordered[0].persisted_at
    rated = sum(m.rated for m in ordered[1:])
    return rated / seconds if seconds > 0 else None


def persisted_times(marks: Sequence[BatchMark], positions: Iterable[tuple[int, int]]) -> list[float | None]:
    """For each (partition, offset), when the first batch holding it committed (None if none did)."""
    spans: dict[int, list[tuple[int, int, float]]] = {}
    for mark in marks:
        for partition, (first, end) in mark.ranges.items():
            spans.setdefault(partition, []).append((first, end, mark.persisted_at))
    starts: dict[int, list[int]] = {}
    for partition, items in spans.items():
        items.sort()
        starts[partition] = [first for first, _, _ in items]
    times: list[float | None] = []
    for partition, offset in positions:
        times.append(_earliest(spans.get(partition, []), starts.get(partition, []), offset))
    return times


def _earliest(items: list[tuple[int, int, float]], starts: list[int], offset: int) -> float | None:
    # A replayed batch can cover an offset twice: the earliest commit is when it became durable.
    # Ranges of one partition hardly overlap (only a replay after a crash or rebalance does), so looking a
    # few ranges back from the last one starting at or before the offset is enough.
    best = None
    index = bisect.bisect_right(starts, offset) - 1
    for candidate in range(index, max(index - _LOOK_BACK, -1), -1):
        first, end, at = items[candidate]
        if first <= offset < end and (best is None or at < best):
            best = at
    return best
