"""Resolving a dispute: reject it, or credit it through the discount authority.

A credit is money like a discount, so it is decided by the same authority (src/billing/discounts/rules, through
src/billing/discounts/service.py): a ``credit_note`` grant on the disputed invoice worth the credit, within the
resolver's per-grant limit, monthly budget and the customer's 12-month limit, and charged to the resolver's
budget; above that authority a pending approval for a second person whose authority covers it (charged to the
approver's budget; approving issues the credit note and resolves the dispute); beyond any authority, refused.
A credit is never more than the amount disputed nor than what remains creditable on the invoice
(src/billing/credits/rules/credit.py). Whoever opened the dispute may credit it, as resolver or as approver, only up to
the policy's ``max_credit_by_opener_minor`` (src/billing/discounts/rules/decisions.py ``opener_refusal``).

A goodwill credit (a dispute whose reason names no billing error, src/billing/credits/rules/goodwill.py) is the
retention practice ``credit``: in the control arm of a period whose plan withholds it, it is refused when asked
(``withheld_in_control_arm``) and when approved, by the discount authority's one holdout rule
(src/billing/discounts/holdout.py). A credit that corrects a billing error is never withheld.

A refusal raises DisputeRefused before the dispute is touched, and the caller's transaction rolls back, so a
refused resolution changes nothing. While a credit waits for approval the dispute stays in review and cannot be
resolved otherwise (``credit_pending_approval``); after an approver refused it, a new credit may be asked.

Grant ids: the first credit asked on a dispute is the grant ``dispute:<dispute_id>``; the n-th (after approvers
refused the earlier ones) ``dispute:<dispute_id>:<n>``. A dispute has at most one credit note (credit_notes.
dispute_id is unique) and at most one credit waiting (migration 0012).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from billing.contracts.disputes import DisputeOutcome
from billing.credits import dispute_store as store
from billing.credits.credit_grants import CREDIT_GRANTS
from billing.credits.credit_notes import existing_note
from billing.credits.dispute_store import Dispute, DisputeRefused, Resolution
from billing.credits.rules.goodwill import is_goodwill
from billing.discounts import approvals, service
from billing.discounts.holdout import holdout_criteria
from billing.discounts.rules.decisions import opener_refusal
from billing.discounts.rules.grants import AgentProfile, GrantRequest, Refused
from billing.discounts.rules.model import DiscountAsk, GrantOutcome
from billing.discounts.rules.policy import AuthorityPolicy, GrantKind

REASON_CODE = "dispute_upheld"


async def resolve(
    conn: asyncpg.Connection,
    policy: AuthorityPolicy,
    resolver: AgentProfile,
    dispute_id: str,
    outcome: DisputeOutcome,
    credit_minor: int | None,
    reason: str,
    now: datetime,
    task_id: str | None = None,
    control_grants: str = "refuse",
    control_reason: str | None = None,
) -> Resolution | GrantOutcome:
    """The Resolution, or for a credit above the resolver's authority the pending GrantOutcome (its approval
    task). ``task_id`` is the task the resolver holds, recorded on the grant and the case the retention holdout
    judges a goodwill credit by (``control_grants``: RETENTION_CONTROL_GRANTS, ``control_reason`` the resolver's
    reason to give it in the control arm where that allows one)."""
    dispute = await store.load_open(conn, dispute_id)
    await _no_credit_waiting(conn, dispute)
    if outcome is DisputeOutcome.REJECTED:
        if credit_minor is not None:
            raise DisputeRefused("credit_matches_outcome", "credit_matches_outcome: a rejection carries no credit")
        dispute = await store.under_review(conn, dispute, resolver.agent_id, now)
        return await store.close(conn, dispute, resolver.agent_id, outcome, None, reason, now)
    if credit_minor is None or credit_minor < 1:
        raise DisputeRefused("credit_matches_outcome", "credit_matches_outcome: a credit needs a positive amount")
    criteria = await _criteria(conn, dispute, task_id, control_grants, control_reason)
    await _check_opener(conn, policy, dispute, resolver.agent_id, credit_minor)
    ask = await _credit_ask(conn, dispute, credit_minor, reason, task_id, criteria)
    decided = await service.request_discount(conn, policy, resolver, ask, now, credits=CREDIT_GRANTS)
    if decided.status == "refused":
        raise DisputeRefused(decided.rule or "refused", decided.reason or "refused")
    dispute = await store.under_review(conn, dispute, resolver.agent_id, now)
    if decided.status == "pending_approval":
        return decided
    note = await existing_note(conn, decided.request_id)
    return await store.close(conn, dispute, resolver.agent_id, outcome, note, reason, now)


async def approve(
    conn: asyncpg.Connection,
    policy: AuthorityPolicy,
    request_id: str,
    approver: AgentProfile,
    now: datetime,
    control_grants: str = "refuse",
) -> GrantOutcome:
    """Approve a pending grant (src/billing/discounts/service.py); a dispute credit also resolves its dispute,
    credited, with the resolver's reason. Refusals are GrantOutcomes, as the service's (``control_grants`` is
    RETENTION_CONTROL_GRANTS: the retention holdout applies to approvals as to grants)."""
    dispute_id = await approvals.dispute_of(conn, request_id)
    if dispute_id is None:
        return await service.approve_request(
            conn, policy, request_id, approver, now, credits=CREDIT_GRANTS, control_grants=control_grants
        )
    dispute = await store.load_open(conn, dispute_id)
    waiting = await approvals.load_pending(conn, request_id)  # RequestConflict once decided
    credit_minor = waiting.ask.request.amount_minor or 0
    try:
        await _check_opener(conn, policy, dispute, approver.agent_id, credit_minor)
    except DisputeRefused as refused:
        return GrantOutcome("refused", request_id, waiting.pending.value_minor, refused.rule, refused.reason)
    outcome = await service.approve_request(
        conn,
        policy,
        request_id,
        approver,
        now,
        credits=CREDIT_GRANTS,
        control_grants=control_grants,
        withholdable=is_goodwill(dispute.reason),  # a billing error's correction is never withheld
    )
    if outcome.status == "granted":
        resolver = waiting.pending.requested_by.agent_id
        dispute = await store.under_review(conn, dispute, resolver, now)
        note = await existing_note(conn, request_id)
        await store.close(conn, dispute, resolver, DisputeOutcome.CREDITED, note, waiting.ask.note or REASON_CODE, now)
    return outcome


async def _no_credit_waiting(conn: asyncpg.Connection, dispute: Dispute) -> None:
    task_id = await approvals.pending_for_dispute(conn, dispute.dispute_id)
    if task_id is not None:
        raise DisputeRefused(
            "credit_pending_approval",
            f"credit_pending_approval: a credit on dispute"
            f" {dispute.dispute_id} waits for approval (task {task_id}); it is decided first",
        )


async def _check_opener(
    conn: asyncpg.Connection, policy: AuthorityPolicy, dispute: Dispute, person_id: str, credit_minor: int
) -> None:
    opener = await store.opened_by(conn, dispute.dispute_id)
    refusal = opener_refusal(credit_minor, dispute.currency, person_id, opener, policy)
    if refusal is not None:
        raise DisputeRefused(refusal.rule, refusal.reason)


async def _criteria(
    conn: asyncpg.Connection, dispute: Dispute, task_id: str | None, control_grants: str, control_reason: str | None
) -> tuple[str, ...]:
    """The credit's criteria; DisputeRefused (withheld_in_control_arm) for a goodwill credit the case's control arm
    withholds, decided as a goodwill credit note asked through the discount route is."""
    criteria = (f"dispute {dispute.dispute_id}"[:64],)
    if not is_goodwill(dispute.reason):
        return criteria  # it corrects a billing error: no retention practice, never withheld
    held = await holdout_criteria(conn, task_id, GrantKind.CREDIT_NOTE, control_grants, control_reason, criteria)
    if isinstance(held, Refused):
        raise DisputeRefused(held.rule, held.reason)
    return held


async def _credit_ask(
    conn: asyncpg.Connection,
    dispute: Dispute,
    credit_minor: int,
    reason: str,
    task_id: str | None,
    criteria: tuple[str, ...],
) -> DiscountAsk:
    earlier = await approvals.requests_for_dispute(conn, dispute.dispute_id)
    grant_id = f"dispute:{dispute.dispute_id}"
    grant_id = grant_id[:128] if earlier == 0 else f"{grant_id[:120]}:{earlier + 1}"
    request = GrantRequest(
        grant_id, dispute.account_id, GrantKind.CREDIT_NOTE, dispute.currency, amount_minor=credit_minor
    )
    return DiscountAsk(
        request,
        REASON_CODE,
        criteria,
        dispute.invoice_id,
        task_id,
        dispute_id=dispute.dispute_id,
        disputed_minor=dispute.amount_minor,
        note=reason[:500],
    )
