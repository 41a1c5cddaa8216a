"""The account behind a held task (masked until the caller is verified on this call) and disputes on its lines.

Opening a dispute needs the verified caller (src/billing/entrypoints/api/access.py ``verified_task``); the view shows the masked card
before that.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from billing.accounts.facts import account_facts, invoice_line, invoices
from billing.accounts.rules.view import BillInsight, account_view
from billing.care.rules.queue_model import QueueTask
from billing.collections.readers import account_balance
from billing.contracts.base import Identifier, Text500
from billing.contracts.disputes import DisputeReason
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.credits.opening import DisputeDraft, open_dispute
from billing.entrypoints.api.access import caller_verified, held_task, verified_task
from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError, not_found
from billing.entrypoints.api.money_action import api_catalog
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS
from billing.invoicing.advisor_inputs import DEFAULT_CYCLES, advise_account, best_saving, open_cycle_summary
from billing.invoicing.documents import explained, explanation_data, stored_invoice
from billing.invoicing.rules.catalog import Catalog
from billing.platform.unit_of_work import connection

router = APIRouter(tags=["accounts"])


class DisputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: Identifier
    line_id: Identifier
    reason: DisputeReason
    amount_minor: int | None = Field(
        None,
        gt=0,
        le=MAX_AMOUNT_MINOR,
        strict=True,
        description="Disputed amount in minor units; default the whole line.",
    )
    note: Text500 | None = None


@router.get("/tasks/{task_id}/account", name="accounts.view", **admits(WORKERS))
async def view_account(
    task_id: Identifier, request: Request, agent: Agent = Depends(current_agent), svc: ApiServices = Depends(services)
) -> dict[str, Any]:
    task = await held_task(request, svc, agent, task_id)
    pool, catalog, now = await svc.pool(), api_catalog(svc), svc.clock()
    # The plan shown is the one in force in event time, as billing has it; a later change is shown as pending.
    event_now = await svc.event_now(pool)
    facts = await account_facts(pool, task.account_id, catalog=catalog, as_of=event_now)
    if facts is None:
        raise not_found(f"account {task.account_id} is not known yet")
    verified = await caller_verified(svc, task)
    note_result(request, "shown" if verified else "masked")
    # Nothing of the bill is worked out for a caller not verified: the view would not show it anyway.
    insight = await _bill_insight(pool, catalog, task.account_id, now, event_now) if verified else None
    return {"task_id": task_id, "call_id": task.call_id, "account": account_view(facts, verified, insight)}


async def _bill_insight(
    pool: asyncpg.Pool, catalog: Catalog, account_id: str, now: datetime, event_now: datetime
) -> BillInsight:
    advised = await advise_account(pool, catalog, account_id, DEFAULT_CYCLES, now, event_now)
    return BillInsight(
        explanation=await _latest_explanation(pool, account_id),
        open_cycle=open_cycle_summary(advised) if advised else None,
        balance=await _balance(pool, account_id),
        best_saving=best_saving(advised) if advised else None,
    )


async def _balance(pool: asyncpg.Pool, account_id: str) -> dict[str, Any] | None:
    """What the customer owes and has open (the collections ledger); None before anything is in it."""
    balance = await account_balance(pool, account_id)
    return None if balance is None else balance.as_json()


async def _latest_explanation(pool: asyncpg.Pool, account_id: str) -> dict[str, Any] | None:
    """The latest invoice (either origin) explained against the one before; None before the first invoice."""
    async with connection(pool) as conn:
        latest = await invoices(conn, account_id, 1)
        if not latest:
            return None
        explanation, note = await explained(conn, await stored_invoice(conn, latest[0].invoice_id))
    return {"invoice_id": latest[0].invoice_id, **explanation_data(explanation, note)}


@router.post("/tasks/{task_id}/disputes", name="accounts.open_dispute", status_code=201, **admits(WORKERS))
async def create_dispute(
    task_id: Identifier,
    body: DisputeRequest,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
) -> Any:
    """Open a dispute on one line of one of the account's invoices; emits dispute.opened.v1 through the outbox."""
    pool = await svc.pool()
    found = await invoice_line(pool, task.account_id, body.invoice_id, body.line_id)
    if found is None:
        raise not_found(f"no line {body.line_id} on invoice {body.invoice_id} of this account")
    invoice, line = found  # ours or an upstream producer's: both can be disputed
    line_amount = int(line.get("amount_minor", 0))
    amount = body.amount_minor if body.amount_minor is not None else line_amount
    if line_amount <= 0 or amount > line_amount:
        raise ApiError(
            422, "amount_out_of_range", f"a dispute on this line is for 1 to {max(line_amount, 0)} minor units"
        )
    draft = DisputeDraft(
        dispute_id=_dispute_id(task_id, body.invoice_id, body.line_id),
        task_id=task_id,
        agent_id=agent.agent_id,
        account_id=task.account_id,
        invoice_id=body.invoice_id,
        line_id=body.line_id,
        amount_minor=amount,
        currency=invoice.currency,
        reason=body.reason,
        note=body.note,
    )
    created = await open_dispute(pool, draft, svc.clock())
    content = {"dispute_id": draft.dispute_id, "created": created, "amount_minor": amount, "currency": draft.currency}
    return JSONResponse(content, status_code=201 if created else 200)


def _dispute_id(task_id: str, invoice_id: str, line_id: str) -> str:
    """One dispute per task and line: a retried request finds the same id and changes nothing."""
    digest = hashlib.sha256(f"{task_id}\x1f{invoice_id}\x1f{line_id}".encode()).hexdigest()
    return f"dsp-{digest[:20]}"
