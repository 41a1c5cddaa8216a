"""The agent desk: /desk, its panels (htmx fragments) and its actions, each a call to the API's own route
(billing.entrypoints.api.desk.internal.call_api) whose answer is rendered back into the panel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from billing.entrypoints.api.auth import current_agent
from billing.entrypoints.api.desk.internal import Answer, call_api
from billing.entrypoints.api.desk.task_view import task_context
from billing.entrypoints.api.desk.views import render
from billing.identity.agent_store import Agent
from billing.identity.rules.masking import scrub_cards
from billing.money import UnknownCurrencyError, currency_exponent

Action = Literal[
    "claim",
    "accept",
    "reject",
    "wrap-up",
    "verify",
    "otp",
    "discount",
    "dispute",
    "plan-change",
    "complete",
    "approve",
    "refuse",
]
# What the invoice document part accepts (the API's own Identifier pattern: nothing else reaches its URL).
IdParam = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
router = APIRouter(include_in_schema=False, dependencies=[Depends(current_agent)])


@router.get("/desk", name="desk.page")
async def desk(request: Request) -> HTMLResponse:
    return render(request, "desk.html")


@router.get("/desk/part/presence", name="desk.presence")
async def presence_part(request: Request) -> HTMLResponse:
    answer = await call_api(request, "GET", "/agents/me/presence")
    return render(request, "_presence.html", presence=answer.body if answer.ok else None, error=None)


@router.post("/desk/act/presence", name="desk.set_presence")
async def set_presence(request: Request) -> HTMLResponse:
    form = await request.form()
    answer = await call_api(request, "PUT", "/agents/me/presence", json={"state": str(form.get("state", ""))})
    released = len(answer.body.get("released", [])) if answer.ok else 0
    note = f"{released} offered task(s) handed back to the queue." if released else None
    response = render(
        request,
        "_presence.html",
        presence=answer.body if answer.ok else None,
        error=None if answer.ok else answer.message,
        note=note,
    )
    response.headers["HX-Trigger"] = "presence-changed"
    return response


@router.get("/desk/part/queues", name="desk.queues")
async def queues_part(request: Request, agent: Agent = Depends(current_agent)) -> HTMLResponse:
    overview, waiting = await call_api(request, "GET", "/queues"), await call_api(request, "GET", "/queues/waiting")
    mine = set(request.app.state.services.queues_for(agent.role))
    queues = [q for q in overview.body.get("queues", []) if q["queue"] in mine]
    return render(request, "_queues.html", queues=queues, waiting=waiting.body.get("tasks", []), error=_error(waiting))


@router.get("/desk/part/task", name="desk.task")
async def task_part(request: Request) -> HTMLResponse:
    return render(request, "_task.html", **await task_context(request))


@router.get("/desk/part/invoice", name="desk.invoice")
async def invoice_part(request: Request, task_id: IdParam, invoice_id: IdParam) -> HTMLResponse:
    """The invoice document and its explanation, from GET /tasks/{id}/invoices/{invoice_id} (verified caller)."""
    answer = await call_api(request, "GET", f"/tasks/{task_id}/invoices/{invoice_id}")
    # Card numbers cut to their last 4 digits, as in the account view: the desk is read over the agent's shoulder.
    document = scrub_cards(answer.body.get("invoice")) if answer.ok else None
    return render(request, "_invoice_doc.html", d=document, error=_error(answer))


# Each action: the form's fields, the API call they make, and whether a retry must not repeat it (money).
@router.post("/desk/act/{action}", name="desk.act")
async def act(action: Action, request: Request) -> HTMLResponse:
    form = {k: str(v) for k, v in (await request.form()).items()}
    task_id, call_id = form.get("task_id", ""), form.get("call_id", "")
    answer: Answer | None = None
    flash: str | None = None
    if action == "claim":
        answer = await call_api(request, "POST", "/tasks/claim")
        flash = "No task is waiting in your queues." if answer.ok and answer.body.get("task") is None else None
    elif action in ("accept", "reject", "wrap-up"):
        answer = await call_api(request, "POST", f"/tasks/{task_id}/{action}")
    elif action == "verify":
        proof = {"pin": form["pin"]} if form.get("pin") else {"code": form.get("code", "")}
        answer = await call_api(request, "POST", f"/calls/{call_id}/verify", json=proof)
        if answer.ok:
            body = answer.body
            flash = "Caller verified." if body["verified"] else f"Wrong - {body['failures_left']} attempt(s) left."
    elif action == "otp":
        answer = await call_api(request, "POST", f"/calls/{call_id}/otp", json={"channel": form.get("channel", "sms")})
        flash = f"Code sent to {answer.body.get('sent_to')}." if answer.ok else None
    elif action == "discount":
        answer = await call_api(request, "POST", f"/tasks/{task_id}/discounts", json=_discount(form), idempotent=True)
        if answer.ok:
            status = answer.body.get("status")
            flash = "Granted." if status == "granted" else "Above your authority: sent to a supervisor for approval."
    elif action == "dispute":
        body = {"invoice_id": form.get("invoice_id"), "line_id": form.get("line_id"), "reason": form.get("reason")}
        answer = await call_api(request, "POST", f"/tasks/{task_id}/disputes", json=body)
        flash = f"Dispute {answer.body.get('dispute_id')} opened." if answer.ok else None
    elif action == "plan-change":
        body = {"plan_id": form.get("plan_id"), "effective": form.get("effective", "next_cycle")}
        if form.get("reason"):
            body["reason"] = form["reason"]
        answer = await call_api(request, "POST", f"/tasks/{task_id}/plan-change", json=body, idempotent=True)
        if answer.status == 202:
            flash = f"Plan {answer.body['plan_id']}: above your authority, sent to a supervisor for approval."
        elif answer.ok:
            flash = f"Plan {answer.body['plan_id']} from {answer.body['effective_at'][:10]} (event sent)."
    elif action == "complete":
        body = {
            "outcome": form.get("outcome"),
            "practice": form.get("practice"),
            "discount_minor": _minor(form.get("discount", "0"), form.get("currency")),
        }
        answer = await call_api(request, "POST", f"/tasks/{task_id}/complete", json=body)
        flash = "Task completed." if answer.ok else None
    elif action in ("approve", "refuse"):
        params = {"reason": form.get("reason") or "refused at the desk"} if action == "refuse" else None
        answer = await call_api(request, "POST", f"/tasks/{task_id}/{action}", params=params, idempotent=True)
        flash = f"Request {'approved' if action == 'approve' else 'refused'}; complete the task." if answer.ok else None
    context = await task_context(request, flash=flash, error=_error(answer) if answer else None)
    response = render(request, "_task.html", **context)
    response.headers["HX-Trigger"] = "task-changed"
    return response


def _error(answer: Answer | None) -> str | None:
    return None if answer is None or answer.ok else f"{answer.message} ({answer.status})"


def _minor(text: str | None, currency: str | None = None) -> int | None:
    """'12.50' EUR -> 1250: agents type amounts in major units; the API takes integer minor units (the currency's
    own exponent; None, which the API refuses, for more decimals than the currency has or an unknown one)."""
    if not text:
        return None
    try:
        exponent = currency_exponent(currency) if currency else 2
    except UnknownCurrencyError:
        return None
    whole, _, frac = text.strip().replace(",", ".").partition(".")
    if (not whole.isdigit() and whole != "") or not (frac.isdigit() or frac == "") or len(frac) > exponent:
        return None
    return int(whole or 0) * 10**exponent + int((frac + "0" * exponent)[:exponent] or 0)


def _discount(form: dict[str, str]) -> dict[str, Any]:
    kind = form.get("kind", "fixed_next_invoice")
    body: dict[str, Any] = {
        "kind": kind,
        "reason_code": form.get("reason_code") or "desk",
        "criteria": [form.get("criteria") or "caller asked"],
    }
    if kind == "percent_next_invoices":
        body["percent_bp"] = int(float(form.get("percent") or 0) * 100)
        body["invoice_count"] = int(form.get("invoice_count") or 1)
    else:
        body["amount_minor"] = _minor(form.get("amount"), form.get("currency"))
    if kind == "credit_note":
        body["invoice_id"] = form.get("invoice_id")
    return body
