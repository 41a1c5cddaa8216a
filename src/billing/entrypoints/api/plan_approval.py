"""A plan change that waited for a second person, approved or declined by the holder of its approval task.

The approval routes (`POST /tasks/{id}/approve` and `/refuse`, src/billing/entrypoints/api/routes/discounts.py)
call these when the approval task they hold decides a plan change request (src/billing/discounts/
plan_change_requests.py) rather than a discount. The rules about the person are the authority's
(src/billing/discounts/rules/plan_change.py): a different person from the requester, in a role that may approve
others' requests, whose own ``max_plan_change_reduction_minor`` covers the change (403 naming the limit
otherwise); a decline needs only the first two.

Approving re-checks the change against the account as it is now (an account closed meanwhile, a plan withdrawn:
the refusal is answered and the request stays pending for someone to decline) and then, in one transaction:
publishes account.plan_changed.v1 through the outbox (its source: the approver, for the requester), records the
practice ``plan_change`` on the customer's task while it is still open, stores the answer with the request, and
clears the task's pending mark. The effective time is computed at approval, on the event-time clock billing runs
on (the slowest usage partition's latest usage; the API's clock before any usage): "now" takes effect at that
moment, "next_cycle" at the start of the cycle after the one running then. So an approval never lands in a cycle
the closer has already closed, and a "next_cycle" change approved after the cycle turned waits for the next one.
A repeated approval (another Idempotency-Key, or the wall's button pressed twice) answers the stored answer again
and changes nothing; a declined request publishes nothing.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import Request

from billing.accounts.plan_change import plan_changed_event, prepare_plan_change, publish_plan_change
from billing.accounts.rules.plan_change import Effective, PlanChangeRefused
from billing.care.store import record_practice
from billing.contracts.tasks import Practice
from billing.discounts import plan_change_requests
from billing.discounts.idempotency_store import Response
from billing.discounts.plan_change_requests import PlanChangeRequest
from billing.discounts.rules.model import RequestConflict, RequestNotFound
from billing.discounts.rules.plan_change import approval_refusal, decline_refusal
from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.errors import ApiError, not_found
from billing.entrypoints.api.money_action import api_catalog, authority_profile, discount_policy, refused
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent


async def approve(
    conn: asyncpg.Connection, svc: ApiServices, request: Request, request_id: str, agent: Agent
) -> Response:
    asked = await _load(conn, request_id)
    if asked.status == "approved" and asked.answer is not None:
        note_result(request, "replayed")  # approved before: the same answer, nothing published again
        return 200, asked.answer
    _pending(asked)
    approver = authority_profile(agent)
    event_now = await svc.event_now(conn)
    effective = Effective(asked.effective)
    prepared = await prepare_plan_change(conn, api_catalog(svc), asked.account_id, asked.plan_id, effective, event_now)
    if isinstance(prepared, PlanChangeRefused):
        return refused(prepared.rule, prepared.reason)  # nothing written: the request stays pending
    requester_id = asked.requested_by.agent_id
    policy = discount_policy(svc)
    not_theirs = approval_refusal(policy, prepared.currency, requester_id, approver, prepared.reduction_minor)
    if not_theirs is not None:
        return refused(not_theirs.rule, not_theirs.reason)
    now = svc.clock()
    event = plan_changed_event(prepared, approver.agent_id, asked.request_id, now, for_agent=requester_id)
    await publish_plan_change(conn, event)
    recorded = await record_practice(conn, asked.case_task_id, None, Practice.PLAN_CHANGE)
    answer = {
        **_request_json(asked, "changed", max(0, prepared.reduction_minor)),
        **prepared.as_json(),
        "event_id": event.event_id,
        "practice": Practice.PLAN_CHANGE.value if recorded else None,  # None: the customer's task was closed
        "approved_by": approver.agent_id,
    }
    await plan_change_requests.mark_approved(conn, asked, approver.agent_id, answer, now)
    return 200, answer


async def decline(conn: asyncpg.Connection, svc: ApiServices, request_id: str, agent: Agent, reason: str) -> Response:
    asked = await _load(conn, request_id)
    _pending(asked)
    person = authority_profile(agent)
    not_theirs = decline_refusal(discount_policy(svc), asked.currency, asked.requested_by.agent_id, person)
    if not_theirs is not None:
        return refused(not_theirs.rule, not_theirs.reason)
    rule = "refused_by_approver"
    why = f"{rule}: {person.agent_id}: {reason}"
    await plan_change_requests.mark_refused(conn, asked, person.agent_id, why, svc.clock())
    return 200, {
        **_request_json(asked, "refused", asked.reduction_minor),
        "rule": rule,
        "reason": why,
        "account_id": asked.account_id,
        "previous_plan_id": asked.from_plan_id,
        "plan_id": asked.plan_id,
        "effective": asked.effective,
        "currency": asked.currency,
    }


def _request_json(asked: PlanChangeRequest, status: str, value_minor: int) -> dict[str, Any]:
    # The keys of a discount request's outcome (src/billing/discounts/rules/model.py GrantOutcome), then the plan's.
    return {
        "status": status,
        "request_id": asked.request_id,
        "value_minor": value_minor,
        "rule": None,
        "reason": None,
        "task_id": asked.task_id,
        "exceeded": [],
        "case_task_id": asked.case_task_id,
        "requested_by": asked.requested_by.agent_id,
    }


async def _load(conn: asyncpg.Connection, request_id: str) -> PlanChangeRequest:
    try:
        return await plan_change_requests.load_for_decision(conn, request_id)
    except RequestNotFound as missing:
        raise not_found(str(missing)) from None


def _pending(asked: PlanChangeRequest) -> None:
    try:
        plan_change_requests.pending_or_conflict(asked)
    except RequestConflict as conflict:
        raise ApiError(409, "request_not_pending", str(conflict)) from None
