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


async def latest_plan(conn: asyncpg.Connection, account_id: str) -> str | None:
    """The plan of the account's latest change (the one it is on, or already moving to), locked against a
    concurrent change of the same account until the caller's transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('plan-change:' || $1))", account_id)
    return await conn.fetchval(
        "SELECT plan_id FROM account_plan_changes WHERE account_id = $1 ORDER BY effective_at DESC, event_id DESC"
        " LIMIT 1",
        account_id,
    )
