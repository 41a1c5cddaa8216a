"""Serve the queue service metrics: read every worker's cells and the live task state from PostgreSQL, merge,
and hand the result to the JSON view and the Prometheus collector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from billing.care.metrics_store import load_snapshots
from billing.care.rules.metrics_report import Live, QueueFigures, merge_snapshots, report_json
from billing.care.store import queue_overview
from billing.platform.settings import Settings


async def load_figures(conn: asyncpg.Connection, settings: Settings, now: datetime) -> list[QueueFigures]:
    since = now - timedelta(seconds=settings.queue_metrics_retention_s)
    snapshots = await load_snapshots(conn, settings.queue_metrics_window_s, since)
    live = {
        o.queue: Live(waiting=o.waiting, oldest_wait_s=o.oldest_wait_s, reserved=o.reserved, accepted=o.accepted)
        for o in await queue_overview(conn, now)
    }
    return merge_snapshots(snapshots, live)


def as_json(figures: list[QueueFigures], settings: Settings, now: datetime) -> dict[str, Any]:
    return report_json(
        figures,
        threshold_s=settings.service_level_threshold_s,
        window_s=settings.queue_metrics_window_s,
        retention_s=settings.queue_metrics_retention_s,
        now=now,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
