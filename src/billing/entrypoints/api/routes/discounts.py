"""Discounts within authority, and their approval by a second person.

`POST /tasks/{task_id}/discounts` grants within the agent's authority (201) or opens an approval task (202).
Approvals are task-scoped: the approver holds the discount_approval task (claimed from the supervisors queue),
the access rule every other action follows; approving a dispute credit also resolves its dispute
(src/billing/credits/resolution.py), and approving a plan change above its requester's authority makes the change
(src/billing/entrypoints/api/plan_approval.py). The shared steps (verified caller, Idempotency-Key, one
transaction, refusal answers) are src/billing/entrypoints/api/money_action.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from billing.accounts.facts import billing_currency
from billing.care.rules.queue_model import QueueTask
from billing.contracts.base import Identifier, PlainText, Text200, Text500
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.credits import resolution
from billing.credits.credit_grants import CREDIT_GRANTS
from billing.credits.dispute_store import DisputeRefused
from billing.discounts import approvals, plan_change_requests, service
from billing.discounts.holdout import holdout_criteria
from billing.discounts.idempotency_store import Response
from billing.discounts.rules.grants import GrantRequest, Refused
from billing.discounts.rules.policy import GrantKind
from billing.entrypoints.api import plan_approval
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError, not_found
from billing.entrypoints.api.money_action import (
    IDEMPOTENCY_KEY,
    authority_profile,
    discount_policy,
    once,
    plan_fee,
    refused,
)
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS

router = APIRouter(tags=["money"])
_STATUS = {"granted": 201, "pending_approval": 202}


class DiscountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: GrantKind
    amount_minor: int | None = Field(
        None, ge=1, le=MAX_AMOUNT_MINOR, strict=True, description="fixed and credit kinds, minor units"
    )
    percent_bp: int | None = Field(None, ge=1, le=10_000, strict=True, description="percent kind: 1500 = 15 %")
    invoice_count: int | None = Field(None, ge=1, le=24, strict=True, description="percent kind")
    invoice_id: Identifier | None = Field(None, description="credit_note kind: the invoice to credit")
    reason_code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    criteria: list[PlainText] = Field(min_length=1, max_length=10, description="what made the customer eligible")
    control_arm_reason: Text200 | None = Field(
        None,
        description="only where RETENTION_CONTROL_GRANTS=allow_with_reason: why a practice withheld from the "
        "task's control-arm case is given anyway (recorded with the grant, counted as non-compliance)",
    )


@router.post("/tasks/{task_id}/discounts", name="discounts.request", **admits(WORKERS))
async def request_discount(
    body: DiscountBody,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    """Grant within the agent's authority (201), or open an approval task for a supervisor (202)."""
    profile = authority_profile(agent)
    request_id = f"grt-{uuid.uuid4().hex[:20]}"

    async def perform(conn: asyncpg.Connection) -> Response:
        currency = await billing_currency(conn, task.account_id)
        if currency is None:
            return 404, {"error": "not_found", "message": f"account {task.account_id} is not known yet"}
        try:
            grant = GrantRequest(
                request_id,
                task.account_id,
                body.kind,
                currency,
                body.amount_minor,
                body.percent_bp,
                body.invoice_count,
            )
        except ValueError as wrong:
            return 422, {"error": "invalid_request", "message": str(wrong)}
        # A practice withheld from the case's control arm is refused (409, nothing written); allowed where the
        # business insists, the reason goes with the grant (event and rows) and with a pending request to its
        # approval, and the case's discount in the control arm counts as non-compliance.
        criteria = await holdout_criteria(
            conn,
            task.task_id,
            body.kind,
            svc.settings.retention_control_grants,
            body.control_arm_reason,
            tuple(c[:64] for c in body.criteria),
        )
        if isinstance(criteria, Refused):
            return refused(criteria.rule, criteria.reason)
        ask = service.DiscountAsk(grant, body.reason_code, criteria, body.invoice_id, task.task_id)
        outcome = await service.request_discount(
            conn, discount_policy(svc), profile, ask, svc.clock(), plan_fee(svc), credits=CREDIT_GRANTS
        )
        if outcome.status == "refused":
            return refused(outcome.rule, outcome.reason)
        return _STATUS[outcome.status], outcome.as_dict()

    body_seen = {"task_id": task.task_id, **body.model_dump(mode="json")}
    return await once(request, svc, agent, idempotency_key, "discounts.request", body_seen, perform)


@router.post("/tasks/{task_id}/approve", name="approvals.approve", **admits(WORKERS))
async def approve(
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    """The holder of a discount_approval task approves it: a different person with enough authority; the grant
    is charged to their budget (a dispute credit's dispute is resolved; a plan change is made). Complete the task
    afterwards as usual."""

    async def perform(conn: asyncpg.Connection) -> Response:
        plan_change = await _plan_change_of(conn, task)
        if plan_change is not None:
            return await plan_approval.approve(conn, svc, request, plan_change, agent)
        request_id = await _request_of(conn, task)
        profile = authority_profile(agent)
        outcome = await _decide(
            lambda: resolution.approve(
                conn, discount_policy(svc), request_id, profile, svc.clock(), svc.settings.retention_control_grants
            )
        )
        if outcome.status == "refused":
            return refused(outcome.rule, outcome.reason)
        return 200, outcome.as_dict()

    return await once(request, svc, agent, idempotency_key, "approvals.approve", {"task_id": task.task_id}, perform)


@router.post("/tasks/{task_id}/refuse", name="approvals.refuse", **admits(WORKERS))
async def refuse(
    request: Request,
    reason: Annotated[Text500, Query()],
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    """The holder of a discount_approval task turns it down, with a reason (same separation rules)."""

    async def perform(conn: asyncpg.Connection) -> Response:
        plan_change = await _plan_change_of(conn, task)
        if plan_change is not None:
            return await plan_approval.decline(conn, svc, plan_change, agent, reason)
        request_id = await _request_of(conn, task)
        profile = authority_profile(agent)
        outcome = await _decide(
            lambda: service.refuse_request(conn, discount_policy(svc), request_id, profile, reason, svc.clock())
        )
        if outcome.rule != "refused_by_approver":
            return 403, {"error": outcome.rule, "message": outcome.reason}
        return 200, outcome.as_dict()

    body_seen = {"task_id": task.task_id, "reason": reason}
    return await once(request, svc, agent, idempotency_key, "approvals.refuse", body_seen, perform)


async def _plan_change_of(conn: asyncpg.Connection, task: QueueTask) -> str | None:
    """The plan change request the approval task decides (None: a discount's, or no approval task)."""
    if task.kind != "discount_approval":
        return None
    return await plan_change_requests.request_of_task(conn, task.task_id)


async def _request_of(conn: asyncpg.Connection, task: QueueTask) -> str:
    request_id = await approvals.request_of_task(conn, task.task_id)
    if task.kind != "discount_approval" or request_id is None:
        raise ApiError(409, "not_an_approval", f"task {task.task_id} is a {task.kind} task, not a discount approval")
    return request_id


async def _decide(decide: Callable[[], Awaitable[service.GrantOutcome]]) -> service.GrantOutcome:
    try:
        return await decide()
    except service.RequestNotFound as missing:
        raise not_found(str(missing)) from None
    except service.RequestConflict as conflict:
        raise ApiError(409, "request_not_pending", str(conflict)) from None
    except DisputeRefused as refusal:  # the dispute of a credit was resolved meanwhile
        status, body = refused(refusal.rule, refusal.reason)
        raise ApiError(status, body["error"], body["message"]) from None


@router.get("/tasks/{task_id}/authority", name="discounts.authority", **admits(WORKERS))
async def authority(
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """The agent's discount authority in the account's currency and what is left of it this month (UTC): a
    request above `max_per_grant_minor` or `remaining_month_minor` goes to a supervisor for approval."""
    pool = await svc.pool()
    currency = await billing_currency(pool, task.account_id)
    if currency is None:
        raise not_found(f"account {task.account_id} is not known yet")
    limits = discount_policy(svc).authority_for(currency, authority_profile(agent).role)
    now = svc.clock()
    month = datetime(now.year, now.month, 1, tzinfo=UTC)
    used = await pool.fetchval(
        "SELECT coalesce(sum(value_minor), 0) FROM discount_budget_charges"
        " WHERE charged_to = $1 AND currency = $2 AND granted_at >= $3",
        agent.agent_id,
        currency,
        month,
    )
    return {
        "currency": currency,
        "max_per_grant_minor": limits.max_per_grant_minor,
        "monthly_budget_minor": limits.monthly_budget_minor,
        "used_month_minor": int(used),
        "remaining_month_minor": max(0, limits.monthly_budget_minor - int(used)),
        "max_per_customer_12m_minor": limits.max_per_customer_12m_minor,
        "can_approve_others": limits.can_approve_others,
    }
