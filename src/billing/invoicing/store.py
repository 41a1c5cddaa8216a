"""The cycle closer's SQL: lock a batch of due accounts, fetch all their inputs set-based, write the batch.

Every function takes a connection already inside the batch's transaction. Arrays are passed whole
(``ANY($1::text[])``, ``unnest``) so a batch of a thousand accounts costs a handful of round trips, not
thousands. jsonb goes in and out as text (``::jsonb`` / ``::text``) so these queries work on any pool,
with or without the worker's jsonb codec.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

import asyncpg
import orjson

from billing.invoicing.rules.close_model import Advance, BatchInputs, DueAccount, GrantRow, PlanChange, UsageRow

_LOCK_DUE = """
SELECT account_id, currency, jurisdiction, billing_anchor_day, next_cycle_start, next_cycle_end,
       (closed_at AT TIME ZONE 'UTC')::date AS closed_on
FROM accounts
WHERE next_cycle_end <= $1
  AND NOT (account_id = ANY($2::text[]))
  AND ($3::text[] IS NULL OR account_id = ANY($3::text[]))
ORDER BY next_cycle_end
LIMIT $4
FOR UPDATE SKIP LOCKED
"""


async def lock_due_accounts(
    conn: asyncpg.Connection, cutoff: date, limit: int, exclude: Sequence[str], only: Sequence[str] | None
) -> list[DueAccount]:
    """Due accounts nobody else is closing: a concurrent closer skips the rows locked here, so the two
    take disjoint batches and no cycle is closed twice."""
    # A batch reads about one per cent of each table by key. With the default random_page_cost (4, tuned
    # for spinning disks) the planner prefers whole-table scans, whose cost grows with every closed cycle.
    await conn.execute("SET LOCAL random_page_cost = 1.1")
    rows = await conn.fetch(_LOCK_DUE, cutoff, list(exclude), None if only is None else list(only), limit)
    return [
        DueAccount(
            r["account_id"],
            r["currency"],
            r["jurisdiction"],
            r["billing_anchor_day"],
            r["next_cycle_start"],
            r["next_cycle_end"],
            r["closed_on"],
        )
        for r in rows
    ]


async def fetch_inputs(
    conn: asyncpg.Connection, accounts: Sequence[DueAccount], *, lock_usage: bool = True
) -> BatchInputs:
    """``lock_usage=False`` reads without locking the usage rows: for a preview that writes nothing."""
    ids = [account.account_id for account in accounts]
    starts = [account.cycle_start for account in accounts]
    return BatchInputs(
        plan_changes=await _plan_changes(conn, ids),
        usage=await _usage(conn, ids, starts, lock_usage),
        grants=await _grants(conn, ids),
        history=await _history(conn, ids),
        already_invoiced=await _already_invoiced(conn, ids, starts),
        upstream=await _upstream_invoices(conn, ids, starts, [account.cycle_end for account in accounts]),
    )


async def _plan_changes(conn: asyncpg.Connection, ids: list[str]) -> dict[str, list[PlanChange]]:
    rows = await conn.fetch(
        "SELECT account_id, plan_id, effective_at FROM account_plan_changes WHERE account_id = ANY($1::text[])"
        " ORDER BY account_id, effective_at, event_id",
        ids,
    )
    found: dict[str, list[PlanChange]] = defaultdict(list)
    for r in rows:
        found[r["account_id"]].append(PlanChange(r["plan_id"], r["effective_at"]))
    return found


# FOR UPDATE: a rating transaction adding units to one of these rows waits for this batch to commit, and its
# units then stay above billed_units, so they are billed next time as late usage instead of being lost.
# "cycle_start <= due.cycle_start" lets each account's rows be read by the primary key's range.
_USAGE = """
SELECT cu.ctid, cu.account_id, cu.cycle_start, cu.plan_id, cu.plan_version, cu.service, cu.billable_units,
       cu.billed_units
FROM unnest($1::text[], $2::date[]) AS due(account_id, cycle_start)
JOIN cycle_usage cu ON cu.account_id = due.account_id AND cu.cycle_start <= due.cycle_start
WHERE cu.cycle_start = due.cycle_start OR cu.billable_units > cu.billed_units
ORDER BY cu.account_id, cu.cycle_start, cu.plan_id, cu.plan_version, cu.service
FOR UPDATE OF cu
"""


async def _usage(conn: asyncpg.Connection, ids: list[str], starts: list[date], lock: bool) -> dict[str, list[UsageRow]]:
    found: dict[str, list[UsageRow]] = defaultdict(list)
    for r in await conn.fetch(_USAGE if lock else _USAGE.replace("FOR UPDATE OF cu", ""), ids, starts):
        found[r["account_id"]].append(UsageRow(*r.values()))
    return found


# credit_note grants credit one named invoice (issue 5); only next-invoice discounts are applied at close.
_GRANTS = """
SELECT g.account_id, g.grant_id, g.kind, g.percent_bp, g.invoice_count, g.amount_minor, g.currency, g.granted_at,
       coalesce(sum(a.amount_minor), 0)::bigint AS applied_minor, count(a.invoice_id) AS applied_count
FROM discount_grants g LEFT JOIN grant_applications a ON a.grant_id = g.grant_id
WHERE g.account_id = ANY($1::text[]) AND g.kind IN ('fixed_next_invoice', 'percent_next_invoices')
GROUP BY g.grant_id
ORDER BY g.account_id, g.granted_at, g.grant_id
"""


async def _grants(conn: asyncpg.Connection, ids: list[str]) -> dict[str, list[GrantRow]]:
    found: dict[str, list[GrantRow]] = defaultdict(list)
    for r in await conn.fetch(_GRANTS, ids):
        found[r["account_id"]].append(GrantRow(*list(r.values())[1:]))
    return found


# The safety bound compares with the account's recent issued invoices (held ones are not a baseline).
_HISTORY = """
SELECT account_id, total_minor FROM (
    SELECT account_id, total_minor, period_start,
           row_number() OVER (PARTITION BY account_id ORDER BY period_start DESC) AS recent
    FROM invoices WHERE account_id = ANY($1::text[]) AND status = 'issued'
) AS issued WHERE recent <= 12 ORDER BY account_id, period_start
"""


async def _history(conn: asyncpg.Connection, ids: list[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for r in await conn.fetch(_HISTORY, ids):
        found[r["account_id"]].append(r["total_minor"])
    return found


async def _already_invoiced(conn: asyncpg.Connection, ids: list[str], starts: list[date]) -> set[str]:
    rows = await conn.fetch(
        "SELECT i.account_id FROM invoices i"
        " JOIN unnest($1::text[], $2::date[]) AS due(account_id, period_start)"
        " ON i.account_id = due.account_id AND i.period_start = due.period_start",
        ids,
        starts,
    )
    return {r["account_id"] for r in rows}


async def _upstream_invoices(
    conn: asyncpg.Connection, ids: list[str], starts: list[date], ends: list[date]
) -> dict[str, str]:
    """Invoices that an upstream producer published (invoice.issued.v1 from another source) for a period
    overlapping each due cycle: the closer holds its own invoice for those instead of billing twice."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (due.account_id) due.account_id, i.invoice_id, i.invoice_number, i.period_start,"
        " i.period_end FROM unnest($1::text[], $2::date[], $3::date[]) AS due(account_id, cycle_start, cycle_end)"
        " JOIN invoices_issued i ON i.account_id = due.account_id"
        " AND i.period_start < due.cycle_end AND i.period_end > due.cycle_start"
        " ORDER BY due.account_id, i.period_start",
        ids,
        starts,
        ends,
    )
    return {
        r["account_id"]: f"{r['invoice_id']} ({r['invoice_number']}, {r['period_start']} to {r['period_end']})"
        for r in rows
    }


async def advance_accounts(conn: asyncpg.Connection, advances: Sequence[Advance]) -> None:
    await conn.execute(
        "UPDATE accounts a SET next_cycle_start = n.next_start, next_cycle_end = n.next_end"
        " FROM unnest($1::text[], $2::date[], $3::date[]) AS n(account_id, next_start, next_end)"
        " WHERE a.account_id = n.account_id",
        [a.account_id for a in advances],
        [a.next_start for a in advances],
        [a.next_end for a in advances],
    )


async def mark_billed(conn: asyncpg.Connection, rows: Sequence[UsageRow]) -> None:
    """billed_units := billable_units on the rows just priced. They are locked FOR UPDATE since they were read,
    so the units are the ones priced and the row addresses (ctid) are still theirs."""
    if rows:
        await conn.execute(
            "UPDATE cycle_usage SET billed_units = billable_units WHERE ctid = ANY($1::tid[])",
            [row.row_ref for row in rows],
        )


async def allocate_numbers(conn: asyncpg.Connection, series: str, count: int) -> int:
    """First of ``count`` consecutive sequence numbers of ``series``.

    Gap-free because the counter row is updated inside the issuing transaction: a rollback gives the numbers
    back, and a concurrent issuer waits on the row until this one commits.
    """
    return await conn.fetchval(
        "INSERT INTO invoice_series (series, next_seq) VALUES ($1, $2::bigint + 1)"
        " ON CONFLICT (series) DO UPDATE SET next_seq = invoice_series.next_seq + $2::bigint"
        " RETURNING next_seq - $2::bigint",
        series,
        count,
    )


_INVOICE_COLUMNS = (
    "invoice_id, account_id, period_start, period_end, status, invoice_number, currency, subtotal_minor,"
    " discount_minor, tax_minor, credit_minor, total_minor, lines, is_final, issued_at, due_date, hold_reason"
)
_INVOICE_COLUMN_NAMES = tuple(c.strip() for c in _INVOICE_COLUMNS.split(","))
# COPY into a staging table, then one INSERT: COPY's binary encoding is much cheaper per value than array
# parameters (the closer's Python time per invoice is the bottleneck), and the lines travel as text and are
# cast to jsonb by the server, so this works on any pool, with or without the worker's jsonb codec.
_CREATE_INVOICE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS invoice_stage ON COMMIT DELETE ROWS AS
SELECT {_INVOICE_COLUMNS.replace("lines,", "lines::text AS lines,")} FROM invoices WITH NO DATA
"""
# Moving the rows out (DELETE ... RETURNING) leaves the stage empty for another batch in the same transaction.
_INSERT_INVOICES = f"""
WITH staged AS (DELETE FROM invoice_stage RETURNING *)
INSERT INTO invoices ({_INVOICE_COLUMNS})
SELECT {_INVOICE_COLUMNS.replace("lines,", "lines::jsonb,")} FROM staged
"""


async def insert_invoices(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """Rows in _INVOICE_COLUMNS order, lines as JSON text."""
    await conn.execute(_CREATE_INVOICE_STAGE)
    await conn.copy_records_to_table("invoice_stage", records=rows, columns=_INVOICE_COLUMN_NAMES)
    await conn.execute(_INSERT_INVOICES)


async def insert_grant_applications(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, int]]) -> None:
    if rows:
        grant_ids, invoice_ids, amounts = (list(column) for column in zip(*rows))
        await conn.execute(
            "INSERT INTO grant_applications (grant_id, invoice_id, amount_minor)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
            grant_ids,
            invoice_ids,
            amounts,
        )


async def enqueue_many(conn: asyncpg.Connection, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
    """Outbox rows in the given order (the relay publishes by id; COPY takes ids in row order), like
    billing.platform.store.enqueue, batched."""
    if items:
        await conn.copy_records_to_table(
            "outbox", records=[(topic, key, value) for key, value in items], columns=("topic", "key", "value")
        )


def lines_text(lines: list[dict]) -> str:
    return orjson.dumps(lines).decode()
