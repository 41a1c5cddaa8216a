"""PostgreSQL side of the usage hot path: account views, rated rows with their cycle totals, parking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from billing.platform.decoding import Record
from billing.platform.retry import caused_by_data
from billing.usage.batch import USAGE_COLUMNS
from billing.usage.rules.rating import AccountView
from billing.usage.rules.usage_record import Usage

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
        r["account_id"]: AccountView(
            r["account_id"],
            r["billing_anchor_day"],
            r["opened_at"],
            r["closed_at"],
            tuple(zip(r["starts"], r["plans"], strict=True)),
        )
        for r in rows
    }


async def known_records(conn: asyncpg.Connection, usages: Sequence[Usage]) -> set[str]:
    """Event ids of these usages that were billed before: under the same event id, or as the same call detail
    record (source and record id) re-sent by mediation under a new event id. Such a record is skipped before any
    rule can refuse or park it."""
    rows = await conn.fetch(
        "SELECT k.event_id FROM unnest($1::text[], $2::text[], $3::text[]) AS k (event_id, record_id, source)"
        " WHERE EXISTS (SELECT 1 FROM usage_events u WHERE u.event_id = k.event_id)"
        " OR EXISTS (SELECT 1 FROM usage_events u WHERE u.record_id = k.record_id AND u.source = k.source"
        " AND NOT u.billed_twice)",
        [u.event_id for u in usages],
        [u.record_id for u in usages],
        [u.source for u in usages],
    )
    return {r["event_id"] for r in rows}


STAGE_DDL = "CREATE TEMP TABLE IF NOT EXISTS usage_stage (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"


async def insert_rated(conn: asyncpg.Connection, rows: list[tuple], stage_ready: bool = False) -> int:
    """Store rated rows, add their units to the cycle totals and move the partitions' event-time watermarks,
    in one statement; returns the rows new to us.

    COPY into a staging table, then one INSERT that skips records already billed and adds only the inserted rows
    to cycle_usage, so a replay adds nothing twice. A record is identified by its (source, record_id): mediation
    re-sends a call detail record under a new event id after a retry, and a redelivered event carries the same
    record, so that key (the unique index of migration 0016) is the ON CONFLICT arbiter, checked in the same
    statement and transaction as the insert; it also skips a row this statement has just inserted, so a record
    twice in one batch is inserted once. The event id stays unique (the primary key), but it is not an arbiter: an
    event id reused for a different record is a producer's error, which fails the insert and is dead-lettered by
    the isolating store (UsageWriter.write), instead of being skipped as if it were a copy. One arbiter instead of
    two: its pre-check is an index probe per row, about 3 µs of PostgreSQL per event (tools/bench/PROFILE.md).
    The copies of one record share their account, so they share a partition and a lane; copies naming different
    accounts, written by two lanes or two workers at once, are still inserted once: the second insert waits for
    the first transaction and then skips (or, in a lock cycle, PostgreSQL aborts one and the batch is retried).
    ``stage_ready``: the connection already has the staging table (the usage consumer's own connections create it
    when they connect).
    """
    if not stage_ready:
        await conn.execute(STAGE_DDL)
    await conn.copy_records_to_table("usage_stage", records=rows, columns=USAGE_COLUMNS)
    return await conn.fetchval(_INSERT_RATED)


async def insert_rated_isolating(
    conn: asyncpg.Connection, rows: list[tuple]
) -> tuple[int, list[tuple[int, Exception]]]:
    """`insert_rated` for rows that failed together: halves in savepoints, down to each row that fails alone.

    Returns the rows new to us and, for each row PostgreSQL cannot store because of its own values, its index and
    the error. Only data errors (billing.platform.retry.caused_by_data) are pinned on a row; any other failure is raised.
    A batch with one bad row costs about two savepoints per halving (some 30 for 10,000 rows), paid only then.
    """
    await conn.execute(STAGE_DDL)
    inserted, failed, pending = 0, [], [(0, len(rows))]
    while pending:
        start, end = pending.pop()
        try:
            async with conn.transaction():
                inserted += await insert_rated(conn, rows[start:end], stage_ready=True)
                await conn.execute("DELETE FROM usage_stage")  # the next part is staged on its own
        except Exception as error:  # noqa: BLE001 - classified just below
            if not caused_by_data(error):
                raise
            if end - start == 1:
                failed.append((start, error))
            else:
                middle = (start + end) // 2
                pending += [(middle, end), (start, middle)]  # the first half next: rows keep their order
    return inserted, failed


# Totals and watermarks are taken in key order, so two transactions touching the same rows (two workers
# replaying one partition during a rebalance) lock them in the same order instead of deadlocking.
_INSERT_RATED = (
    f"WITH inserted AS (INSERT INTO usage_events ({_QUOTED}) SELECT {_QUOTED} FROM usage_stage"
    " ON CONFLICT (record_id, source) WHERE NOT billed_twice DO NOTHING"
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
