"""`GET /tasks/{task_id}/offer`: the retention offer to suggest for a held task (none in the control arm).

The access rule first (the agent must hold the task: 403 otherwise, 404 for an unknown task), and the caller
verified on the task's call (403 ``caller_not_verified``): every figure of an offer comes from the account (its
money value from the last bill, the number of invoices from that value and the agent's cap, whether there is an
offer at all from tenure, standing (src/billing/accounts/rules/standing.py), open disputes and past discounts),
so before verification there is no offer to show, not even its kind; the agent cannot grant it to an unverified
caller anyway. Tasks without a call (held invoices, approvals) are back-office work and answer as before. The arm
is the one the queue store will record when the task completes: the account's deterministic hash and the holdout
share, and `not_eligible` for tasks that are not a customer contact. The offer itself is the pure
`suggest_offer` over the account's facts and the discount policy, within the agent's own authority.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends

from billing.accounts import facts as account
from billing.accounts.standing import account_standing
from billing.care.rules.queue_model import QueueTask
from billing.contracts.base import Identifier
from billing.contracts.tasks import TaskKind
from billing.discounts.policy_config import load_policy
from billing.discounts.rules.policy import GrantKind
from billing.discounts.rules.policy import Role as AuthorityRole
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import not_found
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS
from billing.platform.unit_of_work import connection
from billing.retention.rules.arms import assign_arm
from billing.retention.rules.offers import AccountFacts, suggest_offer

router = APIRouter(tags=["retention"])

NOT_IN_EXPERIMENT = frozenset({TaskKind.HELD_INVOICE.value, TaskKind.DISCOUNT_APPROVAL.value})


async def account_facts(conn: asyncpg.Connection, account_id: str, now: datetime) -> AccountFacts | None:
    """The offer's facts from the account facts' reader: the monthly bill is the latest issued invoice of either
    origin (our closer's or an upstream producer's)."""
    opened = await account.profile(conn, account_id)
    if opened is None:
        return None
    bill = await account.latest_invoice_total(conn, account_id)
    standing = await account_standing(conn, account_id)
    last_grants = await account.last_grant_by_kind(conn, account_id)
    kinds = {kind.value for kind in GrantKind}
    return AccountFacts(
        account_id=account_id,
        currency=opened.currency,
        tenure_days=max(0, (now - opened.opened_at).days),
        good_standing=standing.good,
        monthly_bill_minor=int(bill) if bill is not None else 0,
        days_since_discount={GrantKind(kind): (now - last).days for kind, last in last_grants.items() if kind in kinds},
        open_disputes=standing.open_disputes,
    )


@router.get("/tasks/{task_id}/offer", name="tasks.offer", **admits(WORKERS))
async def offer(
    task_id: Identifier,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """The suggested offer for the task's customer: `offer` is null in the control arm or when none is allowed."""
    now = svc.clock()
    async with connection(await svc.pool()) as conn:
        facts = await account_facts(conn, task.account_id, now)
    if facts is None:
        raise not_found(f"account {task.account_id} is not known")
    # The arm drawn at routing (fixed for the account in its period); drawn now only for a task routed before.
    arm = (
        "not_eligible"
        if task.kind in NOT_IN_EXPERIMENT
        else task.arm or assign_arm(task.account_id, svc.holdout_share_bp).value
    )
    suggestion = suggest_offer(facts, load_policy(svc.settings), arm, AuthorityRole(agent.role.value))
    return {
        "task_id": task_id,
        "account_id": task.account_id,
        "arm": arm,
        "offer": None
        if suggestion is None
        else {
            "practice": suggestion.practice,
            "grant_kind": suggestion.grant_kind.value,
            "amount_minor": suggestion.amount_minor,
            "currency": suggestion.currency,
            "percent_bp": suggestion.percent_bp,
            "invoice_count": suggestion.invoice_count,
        },
    }
