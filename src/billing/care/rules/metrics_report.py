"""Queue service metrics, the read side (pure): merge the per-partition snapshots every worker publishes into
one figure per queue, add the live state of the `tasks` table, and shape the JSON report.

Each source partition is counted by exactly one worker at a time, so the snapshots of one (queue, window) from
different partitions are disjoint parts of it and QueueStats.merge (a sum of counters and histograms) gives
the group-wide figure, whichever worker serves the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from billing.care.rules.service_level import QueueStats


@dataclass(frozen=True)
class Snapshot:
    """One cell as published: a queue's stats from one source partition, over one window (None: all time)."""

    queue: str
    window_start: datetime | None
    stats: QueueStats


@dataclass(frozen=True)
class Live:
    """What the `tasks` table says now about one queue."""

    waiting: int = 0
    oldest_wait_s: float | None = None
    reserved: int = 0
    accepted: int = 0


@dataclass(frozen=True)
class QueueFigures:
    queue: str
    total: QueueStats = field(default_factory=QueueStats.empty)
    windows: tuple[tuple[datetime, QueueStats], ...] = ()
    live: Live = field(default_factory=Live)


def merge_snapshots(snapshots: Iterable[Snapshot], live: dict[str, Live]) -> list[QueueFigures]:
    """One QueueFigures per queue seen in either source, windows in time order."""
    totals: dict[str, QueueStats] = {}
    windows: dict[str, dict[datetime, QueueStats]] = {}
    for snap in snapshots:
        if snap.window_start is None:
            totals[snap.queue] = totals[snap.queue].merge(snap.stats) if snap.queue in totals else snap.stats
        else:
            series = windows.setdefault(snap.queue, {})
            start = snap.window_start
            series[start] = series[start].merge(snap.stats) if start in series else snap.stats
    names = sorted(set(totals) | set(windows) | set(live))
    return [
        QueueFigures(
            queue=name,
            total=totals.get(name, QueueStats.empty()),
            windows=tuple(sorted(windows.get(name, {}).items())),
            live=live.get(name, Live()),
        )
        for name in names
    ]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def queue_json(figures: QueueFigures, threshold_s: int, window_s: int) -> dict[str, Any]:
    """The report of one queue: live state, all-time figures (QueueStats.to_dict) and the window series."""
    live = figures.live
    return {
        "queue": figures.queue,
        "waiting_now": live.waiting,
        "oldest_wait_s": None if live.oldest_wait_s is None else round(live.oldest_wait_s, 3),
        "reserved_now": live.reserved,
        "accepted_now": live.accepted,
        **figures.total.to_dict(threshold_s),
        "wait_histogram": figures.total.answer_wait.to_dict(),
        "windows": [
            {
                "window_start": _iso(start),
                "window_end": _iso(start + timedelta(seconds=window_s)),
                **stats.to_dict(threshold_s),
            }
            for start, stats in figures.windows
        ],
    }


def report_json(
    figures: list[QueueFigures], threshold_s: int, window_s: int, retention_s: int, now: datetime
) -> dict[str, Any]:
    return {
        "generated_at": _iso(now),
        "service_level_threshold_s": threshold_s,
        "window_s": window_s,
        "retention_s": retention_s,
        "queues": {f.queue: queue_json(f, threshold_s, window_s) for f in figures},
    }
