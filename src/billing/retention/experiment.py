"""The experiment on PostgreSQL: plans and periods registered, the arm fixed at routing, the plan of a period.

* ``assign_at_routing``: when a customer's contact becomes a task, the account's arm in the current period is
  taken from ``retention_arms`` or, the first time, drawn by the deterministic hash
  (src/billing/retention/rules/arms.py) and stored, in the routing transaction and in one statement that also
  registers the plan and the period (both keyed, so a replay or a second worker changes nothing). The task row
  keeps the arm and the period; its completion reports them, whatever the share is by then.
* ``plan_of_period``: the rules a period's cases are judged by (the registered plan, with the period's share).
* ``withheld_for_task``: whether a practice is withheld from the task's case (control arm, withheld practice):
  the discount route refuses it (src/billing/entrypoints/api/routes/discounts.py).
"""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from billing.retention.plan_config import Experiment
from billing.retention.rules.arms import Arm, assign_arm
from billing.retention.rules.plan import DEFAULT_PLAN, AnalysisPlan, plan_from_mapping

# The snapshot of the statement does not see its own inserts: the first SELECT answers when the arm is new,
# the second when it was there before; exactly one of them returns a row.
_ASSIGN = (
    "WITH p AS (INSERT INTO retention_plans (plan_key, version, plan) VALUES ($1, $2, $3::text::jsonb)"
    " ON CONFLICT DO NOTHING),"
    " e AS (INSERT INTO retention_periods (period, plan_key, holdout_share_bp, started_at) VALUES ($4, $1, $5, $6)"
    " ON CONFLICT DO NOTHING),"
    " a AS (INSERT INTO retention_arms (period, account_id, arm, task_id, assigned_at) VALUES ($4, $7, $8, $9, $6)"
    " ON CONFLICT DO NOTHING RETURNING arm)"
    " SELECT arm FROM a UNION ALL SELECT arm FROM retention_arms WHERE period = $4 AND account_id = $7"
)


async def assign_at_routing(
    conn: asyncpg.Connection, experiment: Experiment, account_id: str, task_id: str, at: datetime
) -> str:
    """The account's arm for the period (stored the first time); registers the plan and the period too."""
    plan = experiment.plan
    drawn = assign_arm(account_id, experiment.holdout_share_bp).value
    return await conn.fetchval(
        _ASSIGN,
        plan.key,
        plan.version,
        json.dumps(plan.contents()),
        experiment.period,
        experiment.holdout_share_bp,
        at,
        account_id,
        drawn,
        task_id,
    )


async def register_period(conn: asyncpg.Connection, experiment: Experiment, at: datetime) -> str:
    """Register the plan and the period before any case (the simulation, whose cases are not routed here)."""
    plan = experiment.plan
    await conn.execute(
        "INSERT INTO retention_plans (plan_key, version, plan) VALUES ($1, $2, $3::text::jsonb) ON CONFLICT DO NOTHING",
        plan.key,
        plan.version,
        json.dumps(plan.contents()),
    )
    await conn.execute(
        "INSERT INTO retention_periods (period, plan_key, holdout_share_bp, started_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        experiment.period,
        plan.key,
        experiment.holdout_share_bp,
        at,
    )
    return experiment.period


async def plan_of_period(conn: asyncpg.Connection, period: str) -> AnalysisPlan:
    """The registered plan of the period with its share; the default plan for cases recorded before periods."""
    row = await conn.fetchrow(
        "SELECT p.plan::text AS plan, e.holdout_share_bp FROM retention_periods e JOIN retention_plans p USING (plan_key)"
        " WHERE e.period = $1",
        period,
    )
    if row is None:
        return DEFAULT_PLAN
    return plan_from_mapping(json.loads(row["plan"]), row["holdout_share_bp"] / 10_000)


async def periods(conn: asyncpg.Connection) -> dict[str, dict[str, object]]:
    """Every registered period: plan version and key, holdout share, start."""
    rows = await conn.fetch(
        "SELECT e.period, p.version, e.plan_key, e.holdout_share_bp, e.started_at"
        " FROM retention_periods e JOIN retention_plans p USING (plan_key) ORDER BY e.started_at, e.period"
    )
    return {
        r["period"]: {
            "period": r["period"],
            "plan_version": r["version"],
            "plan_key": r["plan_key"],
            "holdout_share": r["holdout_share_bp"] / 10_000,
            "started_at": r["started_at"].isoformat(),
        }
        for r in rows
    }


async def withheld_for_task(conn: asyncpg.Connection, task_id: str, practice: str) -> bool:
    """True when the task's case is in the control arm of its period and the period's plan withholds ``practice``."""
    row = await conn.fetchrow("SELECT arm, period FROM tasks WHERE task_id = $1", task_id)
    if row is None or row["arm"] != Arm.CONTROL.value or row["period"] is None:
        return False
    return practice in (await plan_of_period(conn, row["period"])).withheld
