"""PostgreSQL side of the usage hot path: account views, rated rows with their cycle totals, parking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from streams.decoding import Record
from streams.usage_batch import USAGE_COLUMNS
from streams.usage_rating import AccountView

_QUOTED = ", ".join(f'"{c}"' for c in USAGE_COLUMNS)


async def load_accounts(conn: asyncpg.Connection, account_ids: Iterable[str]) -> dict[str, AccountView]:
    rows = await conn.fetch(
        "SELECT a.account_id, a.billing_anchor_day, a.opened_at, a.closed_at,"
        " array_agg(c.effective_at ORDER BY c.effective_at, c.event_id) AS starts,"
        " array_agg(c.plan_id ORDER BY c.effective_at, c.event_id) AS plans"
        " FROM accounts a JOIN account_plan_changes c USING (account_id)"
        " WHERE a.account_id = ANY($1::text[]) GROUP BY a.account_id",
        list(set(account_ids)),
    )
    return {
        r["account_id"]: AccountView(r["account_id"], r["billing_anchor_day"], r["opened_at"], r["closed_at"],
                                     tuple(zip(r["starts"], r["plans"], strict=True)))
        for r in rows
    }  # fmt: skip


async def known_event_ids(conn: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
    """Ids already billed: a redelivered or duplicated event is skipped before any rule can refuse it."""
    rows = await conn.fetch("SELECT event_id FROM usage_events WHERE event_id = ANY($1::text[])", list(event_ids))
    return {r["event_id"] for r in rows}


STAGE_DDL = "CREATE TEMP TABLE IF NOT EXISTS usage_stage (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"


async def insert_rated(conn: asyncpg.Connection, rows: list[tuple], stage_ready: bool = False) -> int:
    """Store rated rows, add their units to the cycle totals and move the partitions' event-time watermarks,
    in one statement; returns the rows new to us.

    COPY into a staging table, then one INSERT that skips ids already billed and adds only the inserted rows
    to cycle_usage, so a replay adds nothing twice. An id twice in one batch is inserted once: ON CONFLICT DO
    NOTHING also skips a row this statement has just inserted. ``stage_ready``: the connection already has the
    staging table (the usage consumer's own connections create it when they connect).
    """
    if not stage_ready:
        await conn.execute(STAGE_DDL)
    await conn.copy_records_to_table("usage_stage", records=rows, columns=USAGE_COLUMNS)
    return await conn.fetchval(_INSERT_RATED)


# Totals and watermarks are taken in key order, so two transactions touching the same rows (two workers
# replaying one partition during a rebalance) lock them in the same order instead of deadlocking.
_INSERT_RATED = (
    f"WITH inserted AS (INSERT INTO usage_events ({_QUOTED}) SELECT {_QUOTED} FROM usage_stage"
    " ON CONFLICT (event_id) DO NOTHING"
    " RETURNING account_id, cycle_start, plan_id, plan_version, service, billable_units),"
    " totals AS (INSERT INTO cycle_usage AS t (account_id, cycle_start, plan_id, plan_version, service,"
    " billable_units, events)"
    " SELECT account_id, cycle_start, plan_id, plan_version, service, sum(billable_units), count(*)"
    " FROM inserted GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    " ON CONFLICT (account_id, cycle_start, plan_id, plan_version, service) DO UPDATE"
    " SET billable_units = t.billable_units + EXCLUDED.billable_units, events = t.events + EXCLUDED.events),"
    " marks AS (INSERT INTO usage_watermarks AS w (partition, max_started_at)"
    " SELECT partition, max(started_at) FROM usage_stage GROUP BY 1 ORDER BY 1"
    " ON CONFLICT (partition) DO UPDATE SET max_started_at = GREATEST(w.max_started_at, EXCLUDED.max_started_at))"
    " SELECT count(*) FROM inserted"
)


async def park(conn: asyncpg.Connection, items: Sequence[tuple[str, str, Record]]) -> None:
    """Keep usage for accounts not known yet: (event_id, account_id, message)."""
    await conn.executemany(
        'INSERT INTO parked_usage (event_id, account_id, partition, "offset", key, value)'
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        [(eid, aid, m.partition, m.offset, m.key, m.value) for eid, aid, m in items],
    )
