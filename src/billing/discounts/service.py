"""Granting discounts within authority: decide, record, emit; above authority, an approval task.

Thin: the decision is ``billing.discounts.rules.decisions`` (decide / approve); this module loads its inputs under
locks, writes the outcome and emits discount.granted.v1 through the outbox, all in the caller's transaction.

* Granted: a budget charge (to the requester, or to the approver after an approval), the discount.granted.v1
  event and, for a credit note, the credit note itself, issued by the credits context through the
  ``CreditNoteIssuer`` the caller hands in (src/billing/credits/credit_grants.py). The invoicing closer applies
  next-invoice grants from the projected discount_grants table, once per invoice (grant_applications).
* Above authority: a pending discount_requests row and a ``discount_approval`` task in the supervisors queue.
* Refused: nothing is written (a refusal changes nothing); the caller gets the rule and the reason, and the API
  rolls its transaction back. An approval refused by a rule leaves the request pending for an approver to
  refuse (``refuse_request``) or for someone with enough authority to approve.

A dispute credit (src/billing/credits/resolution.py) is a credit_note grant decided here like any other; its credit
note names the dispute and carries the resolver's reason.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from billing.contracts import envelope as ev
from billing.contracts.discounts import DiscountGranted, DiscountKind
from billing.contracts.money import Money
from billing.discounts import approvals
from billing.discounts.history import PlanFee, customer_standing, grant_history, lock_for_decision
from billing.discounts.holdout import holdout_refusal, recorded_reason
from billing.discounts.rules.decisions import approve, decide, decider_refusal
from billing.discounts.rules.grants import (
    AgentProfile,
    Approved,
    NeedsApproval,
    PastGrant,
    Refused,
)
from billing.discounts.rules.model import (
    CreditNoteIssuer,
    DiscountAsk,
    GrantOutcome,
    RequestConflict,
    RequestNotFound,
)
from billing.discounts.rules.policy import AuthorityPolicy, GrantKind
from billing.platform.store import enqueue
from billing.platform.topics import DISCOUNTS_GRANTED


async def request_discount(
    conn: asyncpg.Connection,
    policy: AuthorityPolicy,
    agent: AgentProfile,
    ask: DiscountAsk,
    now: datetime,
    plan_fee: PlanFee | None = None,
    *,
    credits: CreditNoteIssuer | None = None,
) -> GrantOutcome:
    """``plan_fee`` values percent grants for accounts not invoiced yet (see history.customer_standing);
    ``credits`` checks and issues a credit_note grant's note (required for that kind)."""
    request = ask.request
    await lock_for_decision(conn, request.account_id, agent.agent_id)
    earlier = await approvals.outcome_of(conn, request.request_id)
    if earlier is not None:
        return earlier  # the same request id again: its first outcome, never a second grant
    standing = await customer_standing(conn, request.account_id, now, plan_fee)
    if standing is None or standing.currency != request.currency:
        return _refused(
            request.request_id,
            Refused("account", f"account: no open account {request.account_id} billed in {request.currency}"),
        )
    history = await grant_history(conn, request.account_id, [agent.agent_id], now)
    decision = decide(request, agent, history, standing, policy, now)
    credit_refusal = await _credit_refusal(credits, conn, ask) if not isinstance(decision, Refused) else None
    if credit_refusal is not None:
        decision = credit_refusal
    if isinstance(decision, Refused):
        return _refused(request.request_id, decision)
    if isinstance(decision, NeedsApproval):
        task_id = await approvals.insert_pending(conn, ask, agent, decision, now)
        excess = tuple(excess.describe() for excess in decision.exceeded)
        return GrantOutcome(
            "pending_approval",
            request.request_id,
            decision.pending.value_minor,
            rule=decision.exceeded[0].limit,
            reason="; ".join(excess),
            task_id=task_id,
            exceeded=excess,
        )
    await approvals.insert_granted(conn, ask, agent, standing, decision.grant.value_minor, now)
    return await _grant(conn, ask, decision, now, credits)


async def approve_request(
    conn: asyncpg.Connection,
    policy: AuthorityPolicy,
    request_id: str,
    approver: AgentProfile,
    now: datetime,
    *,
    credits: CreditNoteIssuer | None = None,
    control_grants: str = "refuse",
    withholdable: bool = True,
) -> GrantOutcome:
    """A second person approves; a refusal leaves the request pending (and writes nothing). A practice withheld
    from the request's case is refused as its grant would be (``control_grants``: RETENTION_CONTROL_GRANTS);
    ``withholdable`` False for a grant that is no retention practice (a dispute credit correcting a billing error)."""
    pending_row = await approvals.load_pending(conn, request_id)
    await lock_for_decision(conn, pending_row.ask.request.account_id, approver.agent_id)
    pending_row = await approvals.load_pending(conn, request_id)
    pending = pending_row.pending
    reason = recorded_reason(pending_row.ask.criteria)
    held = (
        await holdout_refusal(conn, pending_row.case_task_id, pending.request.kind, control_grants, reason)
        if withholdable
        else None
    )
    if held is not None:
        return GrantOutcome("refused", request_id, pending.value_minor, held.rule, held.reason)
    history = await grant_history(conn, pending.request.account_id, [approver.agent_id], now)
    decision = approve(pending, approver, history, policy, now)
    if isinstance(decision, Approved):
        # Other credits may have been issued on the invoice while the request waited.
        decision = await _credit_refusal(credits, conn, pending_row.ask) or decision
    if isinstance(decision, Refused):
        return GrantOutcome("refused", request_id, pending.value_minor, decision.rule, decision.reason)
    await approvals.mark_approved(conn, request_id, approver.agent_id, now)
    return await _grant(conn, pending_row.ask, decision, now, credits)


async def refuse_request(
    conn: asyncpg.Connection,
    policy: AuthorityPolicy,
    request_id: str,
    approver: AgentProfile,
    reason: str,
    now: datetime,
) -> GrantOutcome:
    """An approver turns the request down; the same separation and role rules as approving apply."""
    pending_row = await approvals.load_pending(conn, request_id)
    pending = pending_row.pending
    not_theirs = decider_refusal(pending, approver, policy, "decide")
    if not_theirs is not None:
        return GrantOutcome("refused", request_id, pending.value_minor, not_theirs.rule, not_theirs.reason)
    refusal = Refused("refused_by_approver", f"refused_by_approver: {approver.agent_id}: {reason}")
    await approvals.mark_refused(conn, request_id, approver.agent_id, refusal, now)
    return GrantOutcome("refused", request_id, pending.value_minor, refusal.rule, refusal.reason)


async def _credit_refusal(
    credits: CreditNoteIssuer | None, conn: asyncpg.Connection, ask: DiscountAsk
) -> Refused | None:
    if ask.request.kind is not GrantKind.CREDIT_NOTE:
        return None
    return await _issuer(credits).refusal(conn, ask)


def _issuer(credits: CreditNoteIssuer | None) -> CreditNoteIssuer:
    if credits is None:  # a caller bug, not a refusal: the credits context was not handed in
        raise ValueError("a credit_note grant needs the credits context's CreditNoteIssuer (credits=...)")
    return credits


def _refused(request_id: str, refusal: Refused) -> GrantOutcome:
    return GrantOutcome("refused", request_id, 0, refusal.rule, refusal.reason)


async def _grant(
    conn: asyncpg.Connection, ask: DiscountAsk, decision: Approved, now: datetime, credits: CreditNoteIssuer | None
) -> GrantOutcome:
    grant = decision.grant
    await _charge_budget(conn, grant)
    payload = _granted_payload(ask, grant)
    event = ev.DiscountGrantedEvent(
        event_id=f"discount-granted:{grant.grant_id}"[:128],
        type="discount.granted.v1",
        source="care/discounts",
        occurred_at=now,
        schema_version=1,
        payload=payload,
    )
    await enqueue(conn, DISCOUNTS_GRANTED.name, grant.account_id.encode(), ev.dump_event(event))
    number = None
    if grant.kind is GrantKind.CREDIT_NOTE:
        number = await _issuer(credits).issue(conn, ask, grant, now)
    return GrantOutcome("granted", grant.grant_id, grant.value_minor, task_id=ask.task_id, credit_note_number=number)


async def _charge_budget(conn: asyncpg.Connection, grant: PastGrant) -> None:
    await conn.execute(
        "INSERT INTO discount_budget_charges (grant_id, account_id, kind, currency, value_minor, requested_by,"
        " approved_by, charged_to, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        grant.grant_id,
        grant.account_id,
        grant.kind.value,
        grant.currency,
        grant.value_minor,
        grant.agent_id,
        grant.approved_by,
        grant.charged_to,
        grant.granted_at,
    )


def _granted_payload(ask: DiscountAsk, grant: PastGrant) -> DiscountGranted:
    request = ask.request
    amount = (
        None if request.amount_minor is None else Money(amount_minor=request.amount_minor, currency=request.currency)
    )
    return DiscountGranted(
        account_id=request.account_id,
        grant_id=request.request_id,
        kind=DiscountKind(request.kind.value),
        percent_bp=request.percent_bp,
        invoice_count=request.invoice_count,
        amount=amount,
        invoice_id=ask.invoice_id if request.kind is GrantKind.CREDIT_NOTE else None,
        reason_code=ask.reason_code,
        criteria=ask.criteria,
        granted_by=grant.agent_id,
        approved_by=grant.approved_by,
    )


# The routes catch these two from here, beside the functions that raise them (via approvals.load_pending).
__all__ = [
    "DiscountAsk",
    "GrantOutcome",
    "RequestConflict",
    "RequestNotFound",
    "approve_request",
    "refuse_request",
    "request_discount",
]
