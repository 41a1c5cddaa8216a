"""The supervisor wall: /wall (supervisors only: a tier-1 agent gets 403), its tables as htmx fragments reloaded
on every live task change, each table as CSV, and approve or refuse for approvals waiting. Every figure comes
from an API route (billing.entrypoints.api.routes.supervision) called with the supervisor's own session.

Approving from the wall is the API's approval flow done for the supervisor: the approval task is offered to them
(`/tasks/{id}/reassign` to themselves), accepted, approved or refused, and completed. The approvals waiting are
discounts, dispute credits and plan changes alike (a plan change shows its plans and the monthly fee's change in
the account's currency)."""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from billing.entrypoints.api.auth import admits, current_agent
from billing.entrypoints.api.desk.internal import Answer, call_api
from billing.entrypoints.api.desk.views import render
from billing.entrypoints.api.desk.wall_figures import QUEUE_COLUMNS, queue_rows
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import Role

router = APIRouter(include_in_schema=False)
Table = Literal["queues", "agents", "performance", "approvals", "overdue"]
SUPERVISOR_ONLY = {k: v for k, v in admits({Role.SUPERVISOR}).items() if k == "dependencies"}

# Table name -> (API route, key of the rows in its answer, columns).
TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "queues": ("/queues/metrics", "queues", ()),
    "agents": ("/agents/presence", "agents", ("name", "role", "state", "since", "seconds_in_state")),
    "performance": ("/agents/performance", "agents", ("name", "agent_id", "handled", "aht_s", "service_level")),
    "approvals": (
        "/approvals",
        "approvals",
        (
            "task_id",
            "account_id",
            "kind",
            "currency",
            "value_minor",
            "reason_code",
            "requested_by",
            "task_state",
            "from_plan_id",
            "plan_id",
            "effective",
            "fee_change_minor",
            "reason",
        ),
    ),
    "overdue": (
        "/tasks/overdue",
        "tasks",
        ("task_id", "kind", "queue", "priority", "waited_s", "last_widening_s", "beyond_widening"),
    ),
}


@router.get("/wall", name="wall.page", **SUPERVISOR_ONLY)
async def wall(request: Request) -> HTMLResponse:
    return render(request, "wall.html", tables=list(TABLES))


@router.get("/wall/part/{table}", name="wall.table", **SUPERVISOR_ONLY)
async def table_part(table: Table, request: Request) -> HTMLResponse:
    answer, rows, columns = await _table(request, table)
    extra = answer.body if table in ("queues", "performance") else {}
    return render(request, f"_wall_{table}.html", rows=rows, columns=columns, error=_error(answer), extra=extra)


@router.get("/wall/csv/{table}", name="wall.csv", **SUPERVISOR_ONLY)
async def table_csv(table: Table, request: Request) -> Response:
    answer, rows, columns = await _table(request, table)
    if not answer.ok:
        return Response(answer.message, status_code=answer.status, media_type="text/plain")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    headers = {"Content-Disposition": f'attachment; filename="{table}.csv"', "Cache-Control": "no-store"}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/wall/act/{decision}", name="wall.decide", **SUPERVISOR_ONLY)
async def decide(
    decision: Literal["approve", "refuse"], request: Request, agent: Agent = Depends(current_agent)
) -> HTMLResponse:
    form = await request.form()
    task_id = str(form.get("task_id", ""))
    steps: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, bool]] = [
        ("POST", f"/tasks/{task_id}/reassign", {"agent_id": agent.agent_id}, None, False),
        ("POST", f"/tasks/{task_id}/accept", None, None, False),
    ]
    if decision == "approve":
        steps.append(("POST", f"/tasks/{task_id}/approve", None, None, True))
    else:
        steps.append(("POST", f"/tasks/{task_id}/refuse", None, {"reason": str(form.get("reason") or "refused")}, True))
    steps.append(("POST", f"/tasks/{task_id}/complete", {"outcome": "resolved", "practice": "none"}, None, False))
    error = None
    for method, path, body, params, idempotent in steps:
        answer = await call_api(request, method, path, json=body, params=params, idempotent=idempotent)
        if not answer.ok:
            error = f"{path.rsplit('/', 1)[-1]}: {answer.message}"
            break
    _, rows, columns = await _table(request, "approvals")
    note = None if error else f"Request {'approved' if decision == 'approve' else 'refused'}."
    return render(request, "_wall_approvals.html", rows=rows, columns=columns, error=error, note=note, extra={})


async def _table(request: Request, table: str) -> tuple[Answer, list[dict[str, Any]], tuple[str, ...]]:
    if table not in TABLES:
        return Answer(404, {"error": "not_found", "message": f"no table {table}"}), [], ()
    path, key, columns = TABLES[table]
    answer = await call_api(request, "GET", path)
    if table == "queues":
        now = request.app.state.services.clock()
        return answer, queue_rows(answer.body, now) if answer.ok else [], QUEUE_COLUMNS
    return answer, list(answer.body.get(key, [])) if answer.ok else [], columns


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formulas when opened in a spreadsheet


def _error(answer: Answer) -> str | None:
    return None if answer.ok else f"{answer.message} ({answer.status})"
