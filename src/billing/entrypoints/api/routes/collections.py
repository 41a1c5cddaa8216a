"""Collections at the agent's desk: the customer's promise to pay, and the account statement (issue 13).

Both are task routes behind the verified caller (src/billing/entrypoints/api/access.py ``verified_task``): a
promise changes what happens to the customer's money, a statement shows the account's figures. The promise is a
money action (src/billing/entrypoints/api/money_action.py): `Idempotency-Key` required, one transaction, a
refusal answers 422 with its rule and writes nothing. It pauses every dunning step of the account until its date
has passed (docs/collections.md). Dates are event-time days, the clock the dunning runs on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from billing.care.rules.queue_model import QueueTask
from billing.collections.promises import record_promise
from billing.collections.readers import account_statement
from billing.collections.rules.promises import PromiseRefused
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.discounts.idempotency_store import Response
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError, not_found
from billing.entrypoints.api.money_action import IDEMPOTENCY_KEY, once
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.masking import mask_card_numbers
from billing.identity.rules.roles import WORKERS

router = APIRouter(tags=["collections"])
MAX_STATEMENT_DAYS = 3660  # ten years: a statement is read by a person


class PromiseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    promised_for: date = Field(alias="date", description="the day the customer will have paid by (UTC)")
    amount_minor: int = Field(ge=1, le=MAX_AMOUNT_MINOR, strict=True, description="in the account's currency")


async def _event_now(conn: asyncpg.Connection, svc: ApiServices) -> datetime:
    """The event-time clock the dunning runs on; the API's clock before any usage has set it."""
    return await svc.event_now(conn)


@router.post("/tasks/{task_id}/promise-to-pay", name="collections.promise", **admits(WORKERS))
async def promise_to_pay(
    body: PromiseBody,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    """Record the customer's promise to pay (201): dunning of the account pauses until the date has passed."""

    async def perform(conn: asyncpg.Connection) -> Response:
        made_at = await _event_now(conn, svc)
        recorded = await record_promise(
            conn, task.account_id, body.promised_for, body.amount_minor, made_at, agent.agent_id
        )
        if isinstance(recorded, PromiseRefused):
            return 422, {"error": recorded.rule, "message": recorded.reason}
        return 201, {
            "status": "recorded",
            "promise_id": recorded.promise_id,
            "account_id": recorded.account_id,
            "date": recorded.promised_for.isoformat(),
            "amount_minor": recorded.amount_minor,
            "currency": recorded.currency,
            "dunning_paused_until": recorded.promised_for.isoformat(),
        }

    body_seen = {"task_id": task.task_id, **body.model_dump(mode="json", by_alias=True)}
    return await once(request, svc, agent, idempotency_key, "collections.promise", body_seen, perform)


@router.get("/tasks/{task_id}/statement", name="collections.statement", **admits(WORKERS))
async def statement(
    start: Annotated[date, Query(alias="from", description="first day, UTC")],
    end: Annotated[date, Query(alias="to", description="last day, included, UTC")],
    task: QueueTask = Depends(verified_task),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Every ledger entry of the period with a running balance; the closing balance of a period reaching today is
    the account's balance."""
    if end < start or (end - start).days > MAX_STATEMENT_DAYS:
        raise ApiError(422, "invalid_period", f"'to' must be on or after 'from', at most {MAX_STATEMENT_DAYS} days on")
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end, time(), UTC) + timedelta(days=1)
    found = await account_statement(await svc.pool(), task.account_id, since, until)
    if found is None:
        raise not_found(f"account {task.account_id} has nothing in the ledger")
    result = found.statement
    return {
        "account_id": task.account_id,
        "currency": found.currency,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "opening_balance_minor": result.opening_minor,
        "lines": [
            {
                "at": line.entry.at.isoformat(),
                "kind": line.entry.kind.value,
                # Provider references and invoice numbers come from outside: masked like every free text.
                "reference": mask_card_numbers(
                    found.documents.get(line.entry.entry_id) or line.entry.invoice_id or line.entry.payment_id or ""
                ),
                "invoice_id": line.entry.invoice_id,
                "amount_minor": line.amount_minor,
                "balance_minor": line.balance_minor,
            }
            for line in result.lines
        ],
        "closing_balance_minor": result.closing_minor,
    }
