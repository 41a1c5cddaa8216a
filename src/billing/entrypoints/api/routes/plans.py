"""The customer's plans on the phone: what every plan they may move to would have cost, and moving them.

`GET /tasks/{id}/plan-options` re-prices the account's last closed cycles (``cycles``, default 3) and its open
cycle at the current pace under every plan in its currency in force now, with the closer's own inputs and
calculation (src/billing/invoicing/advisor_inputs.py), so the plan it is on shows what was billed. The plan marked
current is the one the cycle advised is on, in event time; a change already scheduled is reported with it, and so
is a change waiting for a supervisor's approval.

`POST /tasks/{id}/plan-change` publishes account.plan_changed.v1 through the outbox with the agent as its
source, "now" (prorated by day) or from the next cycle, and records the task's practice `plan_change` in the
same transaction. It replaces a change scheduled from then on (src/billing/accounts/rules/plan_periods.py). Like
every money route (src/billing/entrypoints/api/money_action.py) it needs the verified caller and an
Idempotency-Key; a refusal is a 422 with one sentence and nothing written but the audit row. A change that lowers
the monthly fee beyond the agent's authority (src/billing/discounts/rules/plan_change.py) goes to a supervisor, as
a discount above authority does: 202 with the request and its approval task, nothing published, the task marked
as waiting (src/billing/discounts/plan_change_requests.py; the approval: src/billing/entrypoints/api/
plan_approval.py). Beyond every approver's limit it is refused (403 ``max_plan_change_reduction_minor``); while a
request waits, another change on the account is refused (409 ``plan_change_pending_approval``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from billing.accounts.plan_change import PreparedChange, plan_changed_event, prepare_plan_change, publish_plan_change
from billing.accounts.rules.plan_change import Effective, PlanChangeRefused
from billing.accounts.rules.plan_periods import PlanStatus
from billing.care.rules.queue_model import QueueTask
from billing.care.store import record_practice
from billing.contracts.base import Identifier, Text200
from billing.contracts.tasks import Practice
from billing.discounts import plan_change_requests
from billing.discounts.idempotency_store import Response
from billing.discounts.rules.grants import AgentProfile, Refused
from billing.discounts.rules.plan_change import NeedsApproval, plan_change_decision
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import not_found
from billing.entrypoints.api.money_action import (
    IDEMPOTENCY_KEY,
    api_catalog,
    authority_profile,
    discount_policy,
    once,
    refused,
)
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS
from billing.invoicing.advisor_inputs import DEFAULT_CYCLES, advise_account
from billing.invoicing.rules.plan_advisor import PlanAdvice

PENDING = "plan_change_pending_approval"
router = APIRouter(tags=["plans"])


class PlanChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: Identifier
    effective: Effective
    reason: Text200 | None = Field(
        None, description="why the customer wants it: shown to the supervisor when the change needs an approval"
    )


@router.get("/tasks/{task_id}/plan-options", name="tasks.plan_options", **admits(WORKERS))
async def plan_options(
    task_id: Identifier,
    cycles: int = Query(DEFAULT_CYCLES, ge=0, le=12, description="How many closed cycles to re-price."),
    task: QueueTask = Depends(verified_task),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Each plan's total per closed cycle (oldest first), its difference from what was billed, the open cycle's
    forecast on it, and the cheapest plan; the plan the cycle is on and a change already scheduled."""
    pool = await svc.pool()
    advised = await advise_account(
        pool, api_catalog(svc), task.account_id, cycles, svc.clock(), await svc.event_now(pool)
    )
    if advised is None:
        raise not_found(f"account {task.account_id} has no invoice of ours and no open cycle to compare")
    waiting = await plan_change_requests.pending_for_account(pool, task.account_id)
    return {
        "task_id": task_id,
        "account_id": task.account_id,
        **advice_json(advised.advice, advised.current),
        "approval_pending": None if waiting is None else _waiting_json(waiting),
    }


def _waiting_json(waiting: plan_change_requests.PlanChangeRequest) -> dict[str, Any]:
    return {
        "request_id": waiting.request_id,
        "task_id": waiting.task_id,
        "plan_id": waiting.plan_id,
        "effective": waiting.effective,
        "requested_by": waiting.requested_by.agent_id,
    }


def advice_json(advice: PlanAdvice, current: PlanStatus) -> dict[str, Any]:
    scheduled = current.pending.plan_id if current.pending else None
    return {
        "currency": advice.currency,
        "current_plan_id": current.plan_id,
        "pending_plan_change": current.pending_json(),
        "billed_minor": list(advice.billed_minor),
        "cheapest_plan_id": advice.cheapest_plan_id,
        "best_saving_minor": advice.best_saving_minor,
        "forecast_elapsed_days": advice.forecast_elapsed_days,
        "forecast_cycle_days": advice.forecast_cycle_days,
        "options": [
            {
                "plan_id": option.plan_id,
                "is_current": option.is_current,
                "is_scheduled": option.plan_id == scheduled,
                "cycle_totals_minor": list(option.cycle_totals_minor),
                "differences_minor": list(option.differences_minor),
                "total_minor": option.total_minor,
                "difference_minor": option.difference_minor,
                "forecast_minor": option.forecast_minor,
                "exact": option.exact,
            }
            for option in advice.options
        ],
        "excluded": dict(advice.excluded),
    }


@router.post("/tasks/{task_id}/plan-change", name="tasks.plan_change", **admits(WORKERS))
async def plan_change(
    task_id: Identifier,
    body: PlanChangeBody,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    """Move the customer to ``plan_id`` now or from the next cycle (200), or send a downgrade above the agent's
    authority to a supervisor (202); a refusal names its rule."""
    catalog = api_catalog(svc)

    async def perform(conn: asyncpg.Connection) -> Response:
        now = svc.clock()  # the moment of the agent's action: what "now" and "the next cycle" start from
        prepared = await prepare_plan_change(conn, catalog, task.account_id, body.plan_id, body.effective, now)
        if isinstance(prepared, PlanChangeRefused):
            if prepared.rule == "not_found":
                return 404, {"error": "not_found", "message": prepared.reason}
            return refused(prepared.rule, prepared.reason)
        waiting = await plan_change_requests.pending_for_account(conn, task.account_id)
        if waiting is not None:
            return refused(
                PENDING,
                f"{PENDING}: the change to {waiting.plan_id} asked for by {waiting.requested_by.agent_id} waits for"
                f" approval (task {waiting.task_id}); it is decided first",
            )
        requester = authority_profile(agent)
        decision = plan_change_decision(
            discount_policy(svc), prepared.currency, requester.role, prepared.reduction_minor
        )
        if isinstance(decision, Refused):
            return refused(decision.rule, decision.reason)  # no role's authority covers it: nothing written
        if isinstance(decision, NeedsApproval):
            return 202, await _send_for_approval(conn, prepared, decision, requester, task_id, body.reason, now)
        event = plan_changed_event(prepared, agent.agent_id, task_id, now)
        await publish_plan_change(conn, event)
        await record_practice(conn, task_id, agent.agent_id, Practice.PLAN_CHANGE)
        return 200, {
            "task_id": task_id,
            **prepared.as_json(),
            "event_id": event.event_id,
            "practice": Practice.PLAN_CHANGE.value,
            "status": "changed",
        }

    body_seen = {"task_id": task_id, **body.model_dump(mode="json", exclude_none=True)}
    return await once(request, svc, agent, idempotency_key, "tasks.plan_change", body_seen, perform)


async def _send_for_approval(
    conn: asyncpg.Connection,
    prepared: PreparedChange,
    decision: NeedsApproval,
    requester: AgentProfile,
    case_task_id: str,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Above the agent's limit: a request and its approval task, nothing published (the answer has the shape of a
    discount's sent for approval: status, request_id, value_minor, rule, reason, task_id, exceeded)."""
    ask = plan_change_requests.PlanChangeRequest(
        request_id=plan_change_requests.new_request_id(),
        account_id=prepared.account_id,
        case_task_id=case_task_id,
        currency=prepared.currency,
        from_plan_id=prepared.previous_plan_id,
        plan_id=prepared.plan_id,
        effective=prepared.effective.value,
        reduction_minor=prepared.reduction_minor,
        reason=reason,
        requested_by=requester,
        requested_at=now,
        exceeded=(decision.excess.describe(),),
    )
    approval_task = await plan_change_requests.insert_pending(conn, ask)
    change = {k: v for k, v in prepared.as_json().items() if k not in ("effective_at", "replaces_pending")}
    return {
        "status": "pending_approval",
        "request_id": ask.request_id,
        "value_minor": ask.reduction_minor,
        "rule": decision.excess.limit,
        "reason": decision.reason,
        "task_id": approval_task,
        "exceeded": list(ask.exceeded),
        "case_task_id": case_task_id,
        **change,
    }
