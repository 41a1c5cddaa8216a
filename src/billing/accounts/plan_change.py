"""A person's plan change: checked against the account, then account.plan_changed.v1 through the outbox, all in the
caller's transaction.

``prepare_plan_change`` takes the account's plan-change lock, reads its profile and plan history, works out the
effective time from the moment it is handed (the agent's action, or an approval's, src/billing/entrypoints/api/
plan_approval.py), applies the account's rules (src/billing/accounts/rules/plan_change.py) and values the change
in the monthly recurring fee. The account projection (src/billing/accounts/projection.py) applies the published
event like any other plan change, so the closer bills the next cycle (or the rest of this one, for "now") on the
new plan from the plan-change rows. The event's source names the person who made the change, and the requester
when a second person approved it for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from billing.accounts.facts import plan_history, profile
from billing.accounts.rules.plan_change import (
    Effective,
    PlanChangeRefused,
    effective_at,
    recurring_charge_change,
    refusal,
)
from billing.accounts.rules.plan_periods import PlanPeriod
from billing.contracts.accounts import AccountPlanChanged
from billing.contracts.envelope import AccountPlanChangedEvent, dump_event
from billing.invoicing.rules.catalog import Catalog
from billing.platform.store import enqueue
from billing.platform.topics import ACCOUNTS

SOURCE = "care/agent-api"


@dataclass(frozen=True)
class PreparedChange:
    """A plan change the account's rules allow, valued, with the account's plan changes locked."""

    account_id: str
    currency: str
    previous_plan_id: str  # in force at the moment the change was prepared
    plan_id: str
    effective: Effective
    effective_at: datetime
    recurring_change_minor: int  # the new monthly fee minus the old (negative: the customer pays less)
    replaces: PlanPeriod | None  # the scheduled change it replaces, if any

    @property
    def reduction_minor(self) -> int:
        """How much less the customer pays each month (what the plan-change authority bounds)."""
        return -self.recurring_change_minor

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "previous_plan_id": self.previous_plan_id,
            "plan_id": self.plan_id,
            "effective": self.effective.value,
            "effective_at": self.effective_at.isoformat(),
            "recurring_change_minor": self.recurring_change_minor,
            "currency": self.currency,
            "replaces_pending": self.replaces.as_json() if self.replaces else None,
        }


async def prepare_plan_change(
    conn: asyncpg.Connection, catalog: Catalog, account_id: str, plan_id: str, effective: Effective, now: datetime
) -> PreparedChange | PlanChangeRefused:
    """The change to ``plan_id`` made at ``now``, or why the account refuses it (rule ``not_found``: no account)."""
    account = await profile(conn, account_id)
    if account is None:
        return PlanChangeRefused("not_found", f"account {account_id} is not known")
    await lock_plan_changes(conn, account_id)
    plans = await plan_history(conn, account_id)
    assert plans is not None, "an account with a profile has a plan history"
    at = effective_at(effective, now, account.billing_anchor_day)
    refusing = refusal(
        catalog,
        status=account.status,
        currency=account.currency,
        plan_id=plan_id,
        plans=plans,
        effective=at,
        now=now,
    )
    if refusing is not None:
        return refusing
    current = plans.in_force(now)
    replaced = plans.pending(now)
    return PreparedChange(
        account_id,
        account.currency,
        current,
        plan_id,
        effective,
        at,
        recurring_charge_change(catalog, current, plan_id, at),
        replaced if replaced and replaced.effective_at >= at else None,
    )


def plan_changed_event(
    change: PreparedChange, agent_id: str, ref: str, now: datetime, *, for_agent: str | None = None
) -> AccountPlanChangedEvent:
    """The event of ``change`` made by ``agent_id`` (for ``for_agent``, who asked for it, when they differ).
    ``ref`` is the task it was made on, or the approved request: one event per ref, plan and effective time, so a
    replayed request (the idempotency key answers it first) could never publish a second change anyway."""
    on_behalf = f"/for/{for_agent}" if for_agent else ""
    return AccountPlanChangedEvent(
        event_id=f"plan-change:{ref}:{change.plan_id}:{change.effective_at.astimezone(UTC):%Y%m%dT%H%M%S}"[:128],
        type="account.plan_changed.v1",
        source=f"{SOURCE}/{agent_id}{on_behalf}"[:128],
        occurred_at=now,
        schema_version=1,
        payload=AccountPlanChanged(
            account_id=change.account_id, plan_id=change.plan_id, effective_at=change.effective_at
        ),
    )


async def publish_plan_change(conn: asyncpg.Connection, event: AccountPlanChangedEvent) -> None:
    await enqueue(conn, ACCOUNTS.name, event.payload.account_id.encode(), dump_event(event))


async def lock_plan_changes(conn: asyncpg.Connection, account_id: str) -> None:
    """Serialise the agents' plan changes of one account until the caller's transaction ends. The plan history
    itself changes only when the projection applies the published event, moments later; a change published in
    between is still put in order there (the latest instruction wins, src/billing/accounts/rules/plan_periods.py)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('plan-change:' || $1))", account_id)
