"""Read the retention counters (and the weekly call service figures) from PostgreSQL into ``ReportInputs``.

The counters are the system of record (written with their resolved-horizon markers, migration 0006); the
report is computed from them when asked. Service level and abandonment come from the `calls` projection.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from streams.retention.arms import Arm
from streams.retention.counters import CounterKey, RetentionCounters, Tally
from streams.retention.report import SERVICE_LEVEL_THRESHOLD_S, ReportInputs, ServiceWeek, build_report

_ARMS = (Arm.TREATMENT.value, Arm.CONTROL.value)  # `not_eligible` cases are followed but not compared


async def load_inputs(conn: asyncpg.Connection) -> ReportInputs:
    counts = await conn.fetch(
        "SELECT practice, arm, horizon_days, wait_bucket_s, cases, retained FROM retention_counts"
        " WHERE arm = ANY($1::text[])", list(_ARMS),
    )
    money = await conn.fetch(
        "SELECT practice, arm, horizon_days, currency, discount_minor FROM retention_money"
    )
    survival = await conn.fetch(
        "SELECT practice, arm, day, churned, censored FROM retention_survival"
        " WHERE churned > 0 OR censored > 0 ORDER BY practice, arm, day"
    )
    return ReportInputs(
        counters=RetentionCounters(
            {
                CounterKey(r["practice"], Arm(r["arm"]), r["horizon_days"], r["wait_bucket_s"]):
                    Tally(r["cases"], r["retained"])
                for r in counts
            }
        ),
        money={(r["practice"], r["arm"], r["horizon_days"], r["currency"].strip()): r["discount_minor"]
               for r in money},
        survival=[(r["practice"], r["arm"], r["day"], r["churned"], r["censored"]) for r in survival],
        service=await _service_weeks(conn),
    )


async def _service_weeks(conn: asyncpg.Connection) -> list[ServiceWeek]:
    rows = await conn.fetch(
        "SELECT date_trunc('week', started_at)::date AS week, count(*) AS offered,"
        " count(answered_at) AS answered,"
        " count(*) FILTER (WHERE answered_at - started_at <= make_interval(secs => $1)) AS answered_within,"
        " count(abandoned_at) AS abandoned"
        " FROM calls GROUP BY 1 ORDER BY 1",
        SERVICE_LEVEL_THRESHOLD_S,
    )
    return [ServiceWeek(r["week"], r["offered"], r["answered"], r["answered_within"], r["abandoned"]) for r in rows]


async def retention_report(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return build_report(await load_inputs(conn))


async def followed_cases(conn: asyncpg.Connection, case_prefix: str = "") -> dict[str, int]:
    """How many cases (ids starting with ``case_prefix``) are followed, and how many have all horizons resolved."""
    row = await conn.fetchrow(
        "SELECT count(*) AS cases, count(*) FILTER (WHERE next_due_at IS NULL) AS finished"
        " FROM retention_cases WHERE starts_with(case_id, $1)",
        case_prefix,
    )
    return dict(row)
