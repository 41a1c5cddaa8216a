"""Re-publish the outbox from a point in time: for a broker that lost events it had acknowledged, or parked rows.

The rows written or published since then go back in the queue (published_at and parked_at cleared); the workers'
outbox relay sends them again, in table order, ahead of anything newer. Consumers are idempotent by event id, so
a re-published event they already have changes nothing. Published rows are kept a day (the relay prunes them
after that), so only what is still in the table can be re-published. The broker data losses this covers are
resolved, which is what turns /health from "degraded" back to "ok".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from billing.platform.unit_of_work import one_row


@dataclass
class Requeued:
    ids: list[int]
    oldest_kept: datetime | None  # the oldest row still in the outbox: anything earlier is gone
    resolved: int  # broker data losses resolved by this replay
    still_lost: list[tuple[str, datetime]] = field(default_factory=list)  # losses it does not cover: (topic, since)


async def requeue(conn: asyncpg.Connection, since: datetime, topic: str | None) -> Requeued:
    """In the caller's transaction: put back every row (of ``topic``, or all) written or published since ``since``."""
    rows = await conn.fetch(
        "UPDATE outbox SET published_at = NULL, parked_at = NULL, attempts = 0, last_error = NULL"
        " WHERE (created_at >= $1 OR published_at >= $1) AND ($2::text IS NULL OR topic = $2) RETURNING id",
        since,
        topic,
    )
    oldest = await conn.fetchval("SELECT min(created_at) FROM outbox WHERE $1::text IS NULL OR topic = $1", topic)
    resolved = await conn.fetchval(
        "WITH done AS (UPDATE broker_data_losses SET resolved_at = now() WHERE resolved_at IS NULL"
        " AND ($2::text IS NULL OR topic = $2) AND (lost_since IS NULL OR lost_since >= $1) RETURNING 1)"
        " SELECT count(*) FROM done",
        since,
        topic,
    )
    still = await conn.fetch(
        "SELECT topic, lost_since FROM broker_data_losses WHERE resolved_at IS NULL ORDER BY lost_since"
    )
    return Requeued(sorted(r["id"] for r in rows), oldest, resolved, [(r["topic"], r["lost_since"]) for r in still])


async def progress(conn: asyncpg.Connection, ids: list[int]) -> tuple[int, int]:
    """(published again, parked) among the re-queued rows."""
    row = await one_row(
        conn,
        "SELECT count(*) FILTER (WHERE published_at IS NOT NULL) AS published,"
        " count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked FROM outbox WHERE id = ANY($1::bigint[])",
        ids,
    )
    return row["published"], row["parked"]
