"""The customer's plans on the phone: what every plan they may move to would have cost, and moving them.

`GET /tasks/{id}/plan-options` re-prices the account's last closed cycles (``cycles``, default 3) and its open
cycle at the current pace under every plan in its currency in force now, with the closer's own inputs and
calculation (src/billing/invoicing/advisor_inputs.py), so the plan it is on shows what was billed.

`POST /tasks/{id}/plan-change` publishes account.plan_changed.v1 through the outbox with the agent as its
source, "now" (prorated by day) or from the next cycle, and records the task's practice `plan_change` in the
same transaction. Like every money route (src/billing/entrypoints/api/money_action.py) it needs the verified
caller and an Idempotency-Key; a refusal is a 422 with one sentence and nothing written but the audit row.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from billing.accounts.facts import profile
from billing.accounts.plan_change import latest_plan, plan_changed_event, publish_plan_change
from billing.accounts.rules.plan_change import Effective, effective_at, refusal
from billing.care.rules.queue_model import QueueTask
from billing.care.store import record_practice
from billing.contracts.base import Identifier
from billing.contracts.tasks import Practice
from billing.discounts.idempotency_store import Response
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import not_found
from billing.entrypoints.api.money_action import IDEMPOTENCY_KEY, api_catalog, once, refused
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS
from billing.invoicing.advisor_inputs import DEFAULT_CYCLES, advise
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
    forecast on it, and the cheapest plan."""
    advice = await advise(await svc.pool(), api_catalog(svc), task.account_id, cycles, svc.clock())
    if advice is None:
        raise not_found(f"account {task.account_id} has no invoice of ours and no open cycle to compare")
    return {"task_id": task_id, "account_id": task.account_id, **advice_json(advice)}


def advice_json(advice: PlanAdvice) -> dict[str, Any]:
    return {
        "currency": advice.currency,
        "billed_minor": list(advice.billed_minor),
        "cheapest_plan_id": advice.cheapest_plan_id,
        "best_saving_minor": advice.best_saving_minor,
        "forecast_elapsed_days": advice.forecast_elapsed_days,
        "forecast_cycle_days": advice.forecast_cycle_days,
        "options": [
            {
                "plan_id": option.plan_id,
                "is_current": option.is_current,
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
        now = svc.clock()
        account = await profile(conn, task.account_id)
        if account is None:
            return 404, {"error": "not_found", "message": f"account {task.account_id} is not known"}
        at = effective_at(body.effective, now, account.billing_anchor_day)
        latest = await latest_plan(conn, task.account_id) or account.plan_id
        refusing = refusal(
            catalog,
            status=account.status,
            currency=account.currency,
            plan_id=body.plan_id,
            latest_plan_id=latest,
            now=now,
        )
        if refusing is not None:
            return refused(refusing.rule, refusing.reason)
        event = plan_changed_event(task.account_id, body.plan_id, at, agent.agent_id, task_id, now)
        await publish_plan_change(conn, event)
        await record_practice(conn, task_id, agent.agent_id, Practice.PLAN_CHANGE)
        return 200, {
            "task_id": task_id,
            "account_id": task.account_id,
            "previous_plan_id": latest,
            "plan_id": body.plan_id,
            "effective": body.effective.value,
            "effective_at": at.isoformat(),
            "event_id": event.event_id,
            "practice": Practice.PLAN_CHANGE.value,
            "status": "changed",
        }

    body_seen = {"task_id": task_id, **body.model_dump(mode="json")}
    return await once(request, svc, agent, idempotency_key, "tasks.plan_change", body_seen, perform)
