"""Read the retention counters (and the weekly call service figures) from PostgreSQL into ``ReportInputs``.

The counters are the system of record (written with their resolved-horizon markers, migration 0006); the
report is computed from them when asked. Service level and abandonment come from the `calls` projection.

A report of a cohort (the cases handled in a period of event time, ``Cohort``) cannot use the counters, which
sum every case ever followed; it is computed from the per-case rows instead (``retention_cases`` and their
``retention_outcomes`` markers), which hold the same facts: each resolved (case, horizon) marker is exactly
one count in ``retention_counts``, and a case's Kaplan-Meier row is "churned at churn_day" or "censored at
resolved_through" (src/billing/retention/rules/outcomes.py). Calls are restricted to those started in the period.

Every report is of one experiment period (src/billing/retention/experiment.py): arms drawn with different
holdout shares or judged by different plans are never added together. Asked for no period, the report is the
latest period's (the one whose first case is latest), judged by that period's registered plan, and lists every
period's own report under ``periods`` when the cases span more than one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from billing.platform.unit_of_work import Database, connection, one_row
from billing.retention import experiment
from billing.retention.rules.arms import Arm
from billing.retention.rules.compliance import PRACTICE_OF_GRANT, ArmCompliance
from billing.retention.rules.counters import WAIT_RESOLUTION_S, CounterKey, RetentionCounters, Tally, wait_bucket_s
from billing.retention.rules.intervals import ClusterMoments
from billing.retention.rules.report import SERVICE_LEVEL_THRESHOLD_S, ReportInputs, ServiceWeek, build_report

_ARMS = (Arm.TREATMENT.value, Arm.CONTROL.value)  # `not_eligible` cases are followed but not compared


@dataclass(frozen=True)
class Cohort:
    """Cases whose case time (the event time of their task.completed) is in [cases_from, cases_to)."""

    cases_from: datetime | None = None
    cases_to: datetime | None = None

    def __post_init__(self) -> None:
        if self.cases_from and self.cases_to and self.cases_from >= self.cases_to:
            raise ValueError(
                f"the cohort is empty: {self.cases_from.isoformat()} is not before {self.cases_to.isoformat()}"
            )

    @classmethod
    def parse(cls, cases_from: str | None, cases_to: str | None) -> Cohort:
        """From ISO dates or times (a date is its midnight, a time without zone is UTC); ValueError if malformed."""
        return cls(_moment("cases_from", cases_from), _moment("cases_to", cases_to))

    def as_json(self) -> dict[str, str | None]:
        return {"cases_from": _iso(self.cases_from), "cases_to": _iso(self.cases_to)}


def _moment(name: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{name} must be an ISO date or time such as 2031-01-01 or 2031-01-01T12:00:00Z, got {text[:40]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# Per (practice, arm, horizon): the cases grouped by account (for standard errors clustered by account) and how
# many received the practice (a discount of more than 0: compliance). From the case rows, for every case or a cohort.
_BY_ACCOUNT = (
    "WITH per_account AS (SELECT c.practice, c.arm, o.horizon_days, c.account_id, count(*) AS n,"
    " count(*) FILTER (WHERE o.retained) AS y, count(*) FILTER (WHERE c.discount_minor > 0) AS d,"
    " count(*) FILTER (WHERE c.discount_minor > 0 AND o.retained) AS dy"
    " FROM retention_outcomes o JOIN retention_cases c USING (case_id)"
    " WHERE ($1::timestamptz IS NULL OR c.case_at >= $1) AND ($2::timestamptz IS NULL OR c.case_at < $2)"
    " AND c.arm = ANY($3::text[]) AND c.period = $4 GROUP BY 1, 2, 3, 4)"
    " SELECT practice, arm, horizon_days, count(*) AS clusters, sum(n)::bigint AS cases, sum(y)::bigint AS retained,"
    " sum(n * n)::bigint AS sum_n2, sum(n * y)::bigint AS sum_ny, sum(y * y)::bigint AS sum_y2,"
    " sum(d)::bigint AS treated, sum(dy)::bigint AS treated_retained FROM per_account GROUP BY 1, 2, 3"
)


# Receipt is read from the case's discount money, so compliance is known only for the practices that are grants;
# a withheld practice without money (a plan change) has no measured compliance rather than 100 % non-compliance.
_RECEIPT_BY_MONEY = frozenset(PRACTICE_OF_GRANT.values())


async def _by_account(
    conn: asyncpg.Connection, cohort: Cohort | None, period: str
) -> tuple[dict[tuple[str, str, int], ClusterMoments], dict[tuple[str, str, int], ArmCompliance]]:
    bounds = cohort or Cohort()
    rows = await conn.fetch(_BY_ACCOUNT, bounds.cases_from, bounds.cases_to, list(_ARMS), period)
    moments, compliance = {}, {}
    for r in rows:
        key = (r["practice"], r["arm"], r["horizon_days"])
        moments[key] = ClusterMoments(r["clusters"], r["cases"], r["retained"], r["sum_n2"], r["sum_ny"], r["sum_y2"])
        if r["practice"] in _RECEIPT_BY_MONEY:
            compliance[key] = ArmCompliance(r["cases"], r["retained"], r["treated"], r["treated_retained"])
    return moments, compliance


async def load_inputs(conn: asyncpg.Connection, cohort: Cohort | None = None, period: str = "") -> ReportInputs:
    """The inputs of one period's report (the stored arm of each case: compliance is judged against it)."""
    inputs = await _counter_inputs(conn, period) if cohort is None else await _cohort_inputs(conn, cohort, period)
    accounts, compliance = await _by_account(conn, cohort, period)
    return replace(inputs, accounts=accounts, compliance=compliance)


async def _counter_inputs(conn: asyncpg.Connection, period: str) -> ReportInputs:
    counts = await conn.fetch(
        "SELECT practice, arm, horizon_days, wait_bucket_s, cases, retained FROM retention_counts"
        " WHERE arm = ANY($1::text[]) AND period = $2",
        list(_ARMS),
        period,
    )
    money = await conn.fetch(
        "SELECT practice, arm, horizon_days, currency, discount_minor FROM retention_money WHERE period = $1", period
    )
    survival = await conn.fetch(
        "SELECT practice, arm, day, churned, censored FROM retention_survival"
        " WHERE (churned > 0 OR censored > 0) AND period = $1 ORDER BY practice, arm, day",
        period,
    )
    return ReportInputs(
        counters=RetentionCounters(
            {
                CounterKey(r["practice"], Arm(r["arm"]), r["horizon_days"], r["wait_bucket_s"]): Tally(
                    r["cases"], r["retained"]
                )
                for r in counts
            }
        ),
        money={(r["practice"], r["arm"], r["horizon_days"], r["currency"].strip()): r["discount_minor"] for r in money},
        survival=[(r["practice"], r["arm"], r["day"], r["churned"], r["censored"]) for r in survival],
        service=await _service_weeks(conn),
    )


# The cohort's cases: $1 and $2 bound the case time (either may be NULL: unbounded on that side), $3 the period.
_IN_TIME = "($1::timestamptz IS NULL OR c.case_at >= $1) AND ($2::timestamptz IS NULL OR c.case_at < $2)"
_IN_COHORT = f"{_IN_TIME} AND c.period = $3"


async def _cohort_inputs(conn: asyncpg.Connection, cohort: Cohort, period: str) -> ReportInputs:
    bounds = (cohort.cases_from, cohort.cases_to, period)
    counts = await conn.fetch(
        "SELECT c.practice, c.arm, o.horizon_days, c.waited_ms / $5 AS bucket, count(*) AS cases,"
        " count(*) FILTER (WHERE o.retained) AS retained"
        " FROM retention_outcomes o JOIN retention_cases c USING (case_id)"
        f" WHERE {_IN_COHORT} AND c.arm = ANY($4::text[]) GROUP BY 1, 2, 3, 4",
        *bounds,
        list(_ARMS),
        WAIT_RESOLUTION_S * 1000,
    )
    money = await conn.fetch(
        "SELECT c.practice, c.arm, o.horizon_days, c.currency, sum(c.discount_minor)::bigint AS discount_minor"
        f" FROM retention_outcomes o JOIN retention_cases c USING (case_id) WHERE {_IN_COHORT} GROUP BY 1, 2, 3, 4",
        *bounds,
    )
    survival = await conn.fetch(
        "SELECT c.practice, c.arm, coalesce(c.churn_day, c.resolved_through) AS day,"
        " count(c.churn_day) AS churned, count(*) - count(c.churn_day) AS censored"
        f" FROM retention_cases c WHERE {_IN_COHORT} AND c.resolved_through > 0 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        *bounds,
    )
    tallies: dict[CounterKey, Tally] = {}
    for r in counts:  # buckets past the cap share the last one, as in the counters
        bucket = wait_bucket_s(r["bucket"] * WAIT_RESOLUTION_S)
        key = CounterKey(r["practice"], Arm(r["arm"]), r["horizon_days"], bucket)
        before = tallies.get(key, Tally(0, 0))
        tallies[key] = Tally(before.cases + r["cases"], before.retained + r["retained"])
    return ReportInputs(
        counters=RetentionCounters(tallies),
        money={(r["practice"], r["arm"], r["horizon_days"], r["currency"].strip()): r["discount_minor"] for r in money},
        survival=[(r["practice"], r["arm"], r["day"], r["churned"], r["censored"]) for r in survival],
        service=await _service_weeks(conn, cohort),
    )


async def _service_weeks(conn: asyncpg.Connection, cohort: Cohort | None = None) -> list[ServiceWeek]:
    period = cohort or Cohort()
    rows = await conn.fetch(
        "SELECT date_trunc('week', started_at)::date AS week, count(*) AS offered,"
        " count(answered_at) AS answered,"
        " count(*) FILTER (WHERE answered_at - started_at <= make_interval(secs => $1)) AS answered_within,"
        " count(abandoned_at) AS abandoned"
        " FROM calls WHERE ($2::timestamptz IS NULL OR started_at >= $2)"
        " AND ($3::timestamptz IS NULL OR started_at < $3) GROUP BY 1 ORDER BY 1",
        SERVICE_LEVEL_THRESHOLD_S,
        period.cases_from,
        period.cases_to,
    )
    return [ServiceWeek(r["week"], r["offered"], r["answered"], r["answered_within"], r["abandoned"]) for r in rows]


async def retention_report(db: Database, cohort: Cohort | None = None, period: str | None = None) -> dict[str, Any]:
    """The report of every case followed (from the counters), or of one cohort (from the cases), per period."""
    async with connection(db) as conn:
        return await report_on(conn, cohort, period)


class UnknownPeriod(LookupError):
    """A period asked for by name that was never registered and holds no case: a refusal, not an empty report."""

    def __init__(self, asked: str, known: list[str]) -> None:
        super().__init__(f"there is no experiment period {asked!r}: {_known_periods(known)}.")


def _known_periods(known: list[str]) -> str:
    if not known:
        return "none is known yet (a worker registers one when it routes the first customer contact)"
    named = [repr(p) + (" (cases recorded before periods were registered)" if p == "" else "") for p in known]
    if len(named) == 1:
        return f"the known period is {named[0]}"
    return f"the known periods are {', '.join(named[:-1])} and {named[-1]}"


async def report_on(
    conn: asyncpg.Connection, cohort: Cohort | None = None, period: str | None = None
) -> dict[str, Any]:
    """One period's report (``period``, or the latest one of the cases), with every period's under ``periods``.
    UnknownPeriod when ``period`` names none the system knows."""
    registered = await experiment.periods(conn)
    if period is not None:
        await _known(conn, period, registered)
    chosen = [period] if period is not None else await _periods_of(conn, cohort)
    reports = []
    for name in chosen:
        plan = await experiment.plan_of_period(conn, name)
        report = build_report(await load_inputs(conn, cohort, name), plan=plan)
        report["cohort"] = None if cohort is None else cohort.as_json()
        report["churn_causes"] = await churn_causes(conn, cohort, name)
        report["period"] = registered.get(name) or {
            "period": name,
            "plan_version": plan.version,
            "plan_key": plan.key,
            "holdout_share": plan.holdout_share,
            "started_at": None,  # cases recorded before periods were registered
        }
        reports.append(report)
    latest = dict(reports[-1])
    if len(reports) > 1:
        latest["periods"] = reports
    return latest


async def churn_causes(conn: asyncpg.Connection, cohort: Cohort | None, period: str) -> list[dict[str, Any]]:
    """Churned cases (a resolved horizon saw the closure) per practice, arm and cause of the closure."""
    bounds = cohort or Cohort()
    rows = await conn.fetch(
        "SELECT c.practice, c.arm, coalesce(z.reason, 'unknown') AS cause, count(*) AS churned"
        " FROM retention_cases c JOIN retention_closures z ON z.account_id = c.account_id"
        f" WHERE {_IN_COHORT} AND c.churn_day IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        bounds.cases_from,
        bounds.cases_to,
        period,
    )
    return [{"practice": r["practice"], "arm": r["arm"], "cause": r["cause"], "churned": r["churned"]} for r in rows]


async def _known(conn: asyncpg.Connection, period: str, registered: dict[str, dict[str, object]]) -> None:
    """Refuse a period that is neither registered nor the period of a recorded case (such as '', the cases recorded
    before periods were registered)."""
    if period in registered or await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM retention_cases WHERE period = $1)", period
    ):
        return
    recorded = [r["period"] for r in await conn.fetch("SELECT DISTINCT period FROM retention_cases ORDER BY 1")]
    raise UnknownPeriod(period, [*registered, *(p for p in recorded if p not in registered)])


async def _periods_of(conn: asyncpg.Connection, cohort: Cohort | None) -> list[str]:
    """The periods of the compared cases (of the cohort), the one with the latest first case last."""
    bounds = cohort or Cohort()
    rows = await conn.fetch(
        f"SELECT c.period FROM retention_cases c WHERE {_IN_TIME}"
        " AND c.arm = ANY($3::text[]) GROUP BY 1 ORDER BY min(c.case_at), 1",
        bounds.cases_from,
        bounds.cases_to,
        list(_ARMS),
    )
    return [r["period"] for r in rows] or [""]


async def followed_cases(conn: asyncpg.Connection, case_prefix: str = "") -> dict[str, int]:
    """How many cases (ids starting with ``case_prefix``) are followed, and how many have all horizons resolved."""
    row = await one_row(
        conn,
        "SELECT count(*) AS cases, count(*) FILTER (WHERE next_due_at IS NULL) AS finished"
        " FROM retention_cases WHERE starts_with(case_id, $1)",
        case_prefix,
    )
    return dict(row)
