"""PostgreSQL side of the retention outcomes (the one I/O module of this package besides ``queries``).

Every function runs inside the caller's transaction. Idempotent by construction: a case is inserted once
(its task id), the clock only moves forward, a closure keeps the earliest time, and a case's horizons are
resolved under a row lock (``FOR UPDATE SKIP LOCKED``, so two workers briefly sharing a partition during a
rebalance never take the same case) with a unique (case, horizon) marker written with the counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from billing.retention.rules.counters import wait_bucket_s
from billing.retention.rules.outcomes import CLOCK_GRACE, CaseProgress, Resolution, next_due_at, resolve

RESOLVE_BATCH = 200


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    source_event_id: str
    account_id: str
    partition: int
    practice: str
    arm: str
    queue: str
    kind: str
    agent_tier: int
    waited_ms: int
    discount_minor: int
    currency: str
    case_at: datetime
    period: str = ""  # the experiment's period the arm was drawn in ('' before periods were recorded)


async def record_case(conn: asyncpg.Connection, case: CaseFacts) -> bool:
    """Insert the case; False when it was already there (a redelivery or a duplicate event)."""
    row = await conn.fetchrow(
        "INSERT INTO retention_cases (case_id, source_event_id, account_id, partition, practice, arm, queue, kind,"
        " agent_tier, waited_ms, discount_minor, currency, case_at, next_due_at, period)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        " ON CONFLICT DO NOTHING RETURNING case_id",
        case.case_id,
        case.source_event_id,
        case.account_id,
        case.partition,
        case.practice,
        case.arm,
        case.queue,
        case.kind,
        case.agent_tier,
        case.waited_ms,
        case.discount_minor,
        case.currency,
        case.case_at,
        next_due_at(case.case_at, 0),
        case.period,
    )
    return row is not None


async def record_closure(conn: asyncpg.Connection, account_id: str, closed_at: datetime, reason: str) -> None:
    """The earliest closure of the account, with its reason: the cause its cases' churn is counted under."""
    await conn.execute(
        "INSERT INTO retention_closures (account_id, closed_at, reason) VALUES ($1, $2, $3) ON CONFLICT (account_id)"
        " DO UPDATE SET reason = CASE WHEN EXCLUDED.closed_at < retention_closures.closed_at THEN EXCLUDED.reason"
        " ELSE coalesce(retention_closures.reason, EXCLUDED.reason) END,"
        " closed_at = LEAST(retention_closures.closed_at, EXCLUDED.closed_at)",
        account_id,
        closed_at,
        reason,
    )


async def advance_clock(conn: asyncpg.Connection, partition: int, event_time: datetime) -> datetime:
    """Move the partition's clock forward to ``event_time`` (never back); return the clock."""
    return await conn.fetchval(
        "INSERT INTO retention_clock (partition, event_time) VALUES ($1, $2) ON CONFLICT (partition)"
        " DO UPDATE SET event_time = GREATEST(retention_clock.event_time, EXCLUDED.event_time)"
        " RETURNING event_time",
        partition,
        event_time,
    )


async def clock_of(conn: asyncpg.Connection, partition: int) -> datetime | None:
    return await conn.fetchval("SELECT event_time FROM retention_clock WHERE partition = $1", partition)


@dataclass(frozen=True)
class Resolved:
    cases: int  # cases whose progress moved
    counted: list[tuple[str, str, int, bool]]  # (practice, arm, horizon, retained) newly counted


async def resolve_due(conn: asyncpg.Connection, partition: int, limit: int = RESOLVE_BATCH) -> Resolved:
    """Resolve up to ``limit`` cases of the partition whose next horizon the clock has passed."""
    clock = await clock_of(conn, partition)
    if clock is None:
        return Resolved(0, [])
    rows = await conn.fetch(
        "SELECT c.case_id, c.period, c.practice, c.arm, c.waited_ms, c.discount_minor, c.currency, c.case_at,"
        " c.resolved_through, c.churn_day, z.closed_at"
        " FROM retention_cases c LEFT JOIN retention_closures z ON z.account_id = c.account_id"
        " WHERE c.partition = $1 AND c.next_due_at <= $2"
        " ORDER BY c.next_due_at LIMIT $3 FOR UPDATE OF c SKIP LOCKED",
        partition,
        clock - CLOCK_GRACE,
        limit,
    )
    steps = [
        (row, resolve(CaseProgress(row["case_at"], row["resolved_through"], row["churn_day"]), row["closed_at"], clock))
        for row in rows
    ]
    new_markers = await _insert_markers(conn, steps)
    deltas = Deltas()
    counted: list[tuple[str, str, int, bool]] = []
    for row, step in steps:
        for horizon, retained in step.outcomes:
            if (row["case_id"], horizon) in new_markers:  # a marker already there was counted before: not twice
                deltas.count(row, horizon, retained)
                counted.append((row["practice"], row["arm"], horizon, retained))
        for change in step.survival:
            deltas.survive(row["period"], row["practice"], row["arm"], change.day, change.churned, change.censored)
    await deltas.apply(conn)
    await conn.executemany(
        "UPDATE retention_cases SET resolved_through = $2, churn_day = $3, next_due_at = $4 WHERE case_id = $1",
        [(row["case_id"], step.resolved_through, step.churn_day, step.next_due_at) for row, step in steps],
    )
    return Resolved(len(rows), counted)


async def _insert_markers(
    conn: asyncpg.Connection, steps: list[tuple[asyncpg.Record, Resolution]]
) -> set[tuple[str, int]]:
    """Insert the (case, horizon) markers in one statement; the ones that were new."""
    markers = [(row["case_id"], horizon, retained) for row, step in steps for horizon, retained in step.outcomes]
    if not markers:
        return set()
    inserted = await conn.fetch(
        "INSERT INTO retention_outcomes (case_id, horizon_days, retained)"
        " SELECT * FROM unnest($1::text[], $2::smallint[], $3::boolean[])"
        " ON CONFLICT DO NOTHING RETURNING case_id, horizon_days",
        [m[0] for m in markers],
        [m[1] for m in markers],
        [m[2] for m in markers],
    )
    return {(r["case_id"], r["horizon_days"]) for r in inserted}


@dataclass
class Deltas:
    """Counter increments of one batch, summed, then applied in key order.

    Two transactions (the accounts agent and the task agent of one partition, or two workers during a
    rebalance) may update the same counter rows; taking the row locks in one global order (sorted keys,
    tables in a fixed order) means they wait for each other instead of deadlocking.
    """

    # Keys lead with the experiment's period: counters of different periods are never added together.
    counts: dict[tuple[str, str, str, int, int], list[int]] = field(default_factory=dict)
    money: dict[tuple[str, str, str, int, str], int] = field(default_factory=dict)
    survival: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)

    def count(self, row: asyncpg.Record, horizon: int, retained: bool) -> None:
        period, practice, arm = row["period"], row["practice"], row["arm"]
        bucket = wait_bucket_s(row["waited_ms"] / 1000)
        tally = self.counts.setdefault((period, practice, arm, horizon, bucket), [0, 0])
        tally[0] += 1
        tally[1] += int(retained)
        key = (period, practice, arm, horizon, row["currency"])
        self.money[key] = self.money.get(key, 0) + row["discount_minor"]

    def survive(self, period: str, practice: str, arm: str, day: int, churned: int, censored: int) -> None:
        cell = self.survival.setdefault((period, practice, arm, day), [0, 0])
        cell[0] += churned
        cell[1] += censored

    async def apply(self, conn: asyncpg.Connection) -> None:
        if self.counts:
            await conn.executemany(
                "INSERT INTO retention_counts (period, practice, arm, horizon_days, wait_bucket_s, cases, retained)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (period, practice, arm, horizon_days, wait_bucket_s)"
                " DO UPDATE SET cases = retention_counts.cases + EXCLUDED.cases,"
                " retained = retention_counts.retained + EXCLUDED.retained",
                [(*key, cases, kept) for key, (cases, kept) in sorted(self.counts.items())],
            )
        if self.money:
            await conn.executemany(
                "INSERT INTO retention_money (period, practice, arm, horizon_days, currency, discount_minor)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (period, practice, arm, horizon_days, currency)"
                " DO UPDATE SET discount_minor = retention_money.discount_minor + EXCLUDED.discount_minor",
                [(*key, amount) for key, amount in sorted(self.money.items())],
            )
        if self.survival:
            await conn.executemany(
                "INSERT INTO retention_survival (period, practice, arm, day, churned, censored)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (period, practice, arm, day) DO UPDATE SET churned = retention_survival.churned"
                " + EXCLUDED.churned, censored = retention_survival.censored + EXCLUDED.censored",
                [(*key, churned, censored) for key, (churned, censored) in sorted(self.survival.items())],
            )
