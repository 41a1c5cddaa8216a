"""The customer's plans on the phone: what every plan they may move to would have cost, and moving them.

`GET /tasks/{id}/plan-options` re-prices the account's last closed cycles (``cycles``, default 3) and its open
cycle at the current pace under every plan in its currency in force now, with the closer's own inputs and
calculation (src/billing/invoicing/advisor_inputs.py), so the plan it is on shows what was billed. The plan marked
current is the one the cycle advised is on, in event time; a change already scheduled is reported with it.

`POST /tasks/{id}/plan-change` publishes account.plan_changed.v1 through the outbox with the agent as its
source, "now" (prorated by day) or from the next cycle, and records the task's practice `plan_change` in the
same transaction. It replaces a change scheduled from then on (src/billing/accounts/rules/plan_periods.py). Like
every money route (src/billing/entrypoints/api/money_action.py) it needs the verified caller and an
Idempotency-Key; a refusal is a 422 with one sentence (403 ``max_plan_change_reduction_minor`` for a change that
lowers the monthly fee beyond the agent's authority, src/billing/discounts/rules/plan_change.py) and nothing
written but the audit row.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from billing.accounts.facts import plan_history, profile
from billing.accounts.plan_change import lock_plan_changes, plan_changed_event, publish_plan_change
from billing.accounts.rules.plan_change import Effective, effective_at, recurring_charge_change, refusal
from billing.accounts.rules.plan_periods import PlanStatus
from billing.care.rules.queue_model import QueueTask
from billing.care.store import record_practice
from billing.contracts.base import Identifier
from billing.contracts.tasks import Practice
from billing.discounts.idempotency_store import Response
from billing.discounts.rules.plan_change import plan_change_refusal
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

router = APIRouter(tags=["plans"])


class PlanChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: Identifier
    effective: Effective


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
    return {"task_id": task_id, "account_id": task.account_id, **advice_json(advised.advice, advised.current)}


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
    """Move the customer to ``plan_id`` now or from the next cycle; 422 with the rule for a refusal."""
    catalog = api_catalog(svc)

    async def perform(conn: asyncpg.Connection) -> Response:
        now = svc.clock()  # the moment of the agent's action: what "now" and "the next cycle" start from
        account = await profile(conn, task.account_id)
        if account is None:
            return 404, {"error": "not_found", "message": f"account {task.account_id} is not known"}
        await lock_plan_changes(conn, task.account_id)
        plans = await plan_history(conn, task.account_id)
        assert plans is not None, "an account with a profile has a plan history"
        at = effective_at(body.effective, now, account.billing_anchor_day)
        refusing = refusal(
            catalog,
            status=account.status,
            currency=account.currency,
            plan_id=body.plan_id,
            plans=plans,
            effective=at,
            now=now,
        )
        if refusing is not None:
            return refused(refusing.rule, refusing.reason)
        current = plans.in_force(now)
        charge_change = recurring_charge_change(catalog, current, body.plan_id, at)
        role = authority_profile(agent).role
        over = plan_change_refusal(discount_policy(svc), account.currency, role, -charge_change)
        if over is not None:
            return refused(over.rule, over.reason)  # 403: nothing published, no practice recorded
        event = plan_changed_event(task.account_id, body.plan_id, at, agent.agent_id, task_id, now)
        await publish_plan_change(conn, event)
        await record_practice(conn, task_id, agent.agent_id, Practice.PLAN_CHANGE)
        replaced = plans.pending(now)
        return 200, {
            "task_id": task_id,
            "account_id": task.account_id,
            "previous_plan_id": current,
            "plan_id": body.plan_id,
            "effective": body.effective.value,
            "effective_at": at.isoformat(),
            "recurring_change_minor": charge_change,
            "currency": account.currency,
            "replaces_pending": replaced.as_json() if replaced and replaced.effective_at >= at else None,
            "event_id": event.event_id,
            "practice": Practice.PLAN_CHANGE.value,
            "status": "changed",
        }

    body_seen = {"task_id": task_id, **body.model_dump(mode="json")}
    return await once(request, svc, agent, idempotency_key, "tasks.plan_change", body_seen, perform)
