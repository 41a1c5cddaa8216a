"""What the task panel shows: the task this agent holds and, as far as the API lets this agent see it, its
account (masked until the caller is verified), invoices (each one's document and explanation is its own part),
retention offer, discount authority and plan options."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from billing.contracts.disputes import DisputeReason
from billing.contracts.tasks import Practice, TaskOutcome
from billing.entrypoints.api.desk.internal import call_api


async def task_context(request: Request, flash: str | None = None, error: str | None = None) -> dict[str, Any]:
    mine = await call_api(request, "GET", "/tasks/mine")
    presence = await call_api(request, "GET", "/agents/me/presence")
    tasks = mine.body.get("tasks", []) if mine.ok else []
    task = tasks[0] if tasks else None
    context: dict[str, Any] = {
        "task": task,
        "others": tasks[1:],
        "presence": presence.body if presence.ok else None,
        "flash": flash,
        "error": error,
        "lease_s": request.app.state.services.settings.agent_lease_s,
        "outcomes": [o.value for o in TaskOutcome],
        "practices": [p.value for p in Practice],
        "dispute_reasons": [r.value for r in DisputeReason],
        "account": None,
        "offer": None,
        "authority": None,
        "plan_options": None,
    }
    if task is None or task["state"] == "reserved":
        return context
    task_id = task["task_id"]
    account = await call_api(request, "GET", f"/tasks/{task_id}/account")
    context["account"] = account.body.get("account") if account.ok else None
    verified = bool(context["account"] and context["account"].get("verified")) or task.get("call_id") is None
    if verified and task["state"] == "accepted":
        offer = await call_api(request, "GET", f"/tasks/{task_id}/offer")
        authority = await call_api(request, "GET", f"/tasks/{task_id}/authority")
        context["offer"] = offer.body if offer.ok else None
        context["authority"] = authority.body if authority.ok else None
        options = await call_api(request, "GET", f"/tasks/{task_id}/plan-options")
        context["plan_options"] = options.body if options.ok else None
    return context
