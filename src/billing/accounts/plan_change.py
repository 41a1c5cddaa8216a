"""An agent's plan change: account.plan_changed.v1 through the outbox, in the caller's transaction.

The account projection (src/billing/accounts/projection.py) applies the event like any other plan change, so the
closer bills the next cycle (or the rest of this one, for "now") on the new plan from the plan-change rows.
The event's source names the agent who made the change.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from billing.contracts.accounts import AccountPlanChanged
from billing.contracts.envelope import AccountPlanChangedEvent, dump_event
from billing.platform.store import enqueue
from billing.platform.topics import ACCOUNTS

SOURCE = "care/agent-api"


def plan_changed_event(
    account_id: str, plan_id: str, effective_at: datetime, agent_id: str, task_id: str, now: datetime
) -> AccountPlanChangedEvent:
    # One event per task, plan and effective time: a replayed request (the idempotency key answers it first)
    # could never publish a second change anyway.
    return AccountPlanChangedEvent(
        event_id=f"plan-change:{task_id}:{plan_id}:{effective_at.astimezone(UTC):%Y%m%dT%H%M%S}"[:128],
        type="account.plan_changed.v1",
        source=f"{SOURCE}/{agent_id}"[:128],
        occurred_at=now,
        schema_version=1,
        payload=AccountPlanChanged(account_id=account_id, plan_id=plan_id, effective_at=effective_at),
    )


async def publish_plan_change(conn: asyncpg.Connection, event: AccountPlanChangedEvent) -> None:
    await enqueue(conn, ACCOUNTS.name, event.payload.account_id.encode(), dump_event(event))


async def lock_plan_changes(conn: asyncpg.Connection, account_id: str) -> None:
    """Serialise the agents' plan changes of one account until the caller's transaction ends. The plan history
    itself changes only when the projection applies the published event, moments later; a change published in
    between is still put in order there (the latest instruction wins, src/billing/accounts/rules/plan_periods.py)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('plan-change:' || $1))", account_id)
