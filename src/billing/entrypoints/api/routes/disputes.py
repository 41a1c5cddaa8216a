"""Resolving a dispute, and the dispute desk's figures.

A dispute credit is decided by the same authority as a discount (src/billing/credits/resolution.py): within the
resolver's authority 200, above it 202 with an approval task for a second person (approved through
src/billing/entrypoints/api/routes/discounts.py). A goodwill credit (the dispute's reason is `other`: it names no
billing error) withheld from the task's retention control arm is refused, 409 `withheld_in_control_arm`. The shared steps (verified caller, Idempotency-Key, one
transaction, refusal answers) are src/billing/entrypoints/api/money_action.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from billing.care.rules.queue_model import QueueTask
from billing.contracts.base import Identifier, Text200, Text500
from billing.contracts.disputes import DisputeOutcome
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.credits import dispute_store, resolution
from billing.discounts.idempotency_store import Response
from billing.discounts.rules.model import GrantOutcome
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError
from billing.entrypoints.api.money_action import IDEMPOTENCY_KEY, authority_profile, discount_policy, once, refused
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import AUDITORS, WORKERS
from billing.platform.unit_of_work import connection

router = APIRouter(tags=["money"])


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: DisputeOutcome
    credit_minor: int | None = Field(None, ge=1, le=MAX_AMOUNT_MINOR, strict=True)
    reason: Text500
    control_arm_reason: Text200 | None = Field(
        None,
        description="only where RETENTION_CONTROL_GRANTS=allow_with_reason: why a goodwill credit (a dispute whose "
        "reason is `other`) withheld from the task's control-arm case is given anyway",
    )


@router.post("/tasks/{task_id}/disputes/{dispute_id}/resolve", name="disputes.resolve", **admits(WORKERS))
async def resolve_dispute(
    dispute_id: Identifier,
    body: ResolveBody,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    """Reject, or credit (a credit note, never more than disputed nor than remains creditable) within the
    resolver's authority (200); above it 202 with an approval task for a second person."""

    async def perform(conn: asyncpg.Connection) -> Response:
        if await dispute_store.account_of(conn, dispute_id) != task.account_id:
            # another account's dispute is out of reach, whatever exists
            return 404, {"error": "not_found", "message": f"no dispute {dispute_id} on this task's account"}
        try:
            done = await resolution.resolve(
                conn,
                discount_policy(svc),
                authority_profile(agent),
                dispute_id,
                body.outcome,
                body.credit_minor,
                body.reason,
                svc.clock(),
                task.task_id,
                svc.settings.retention_control_grants,
                body.control_arm_reason,
            )
        except dispute_store.DisputeRefused as refusal:  # 409 withheld_in_control_arm among them: nothing written
            return refused(refusal.rule, refusal.reason)
        if isinstance(done, GrantOutcome):  # above the resolver's authority: waiting for approval
            return 202, {"dispute_id": dispute_id, **done.as_dict()}
        note = done.credit_note
        return 200, {
            "dispute_id": dispute_id,
            "outcome": done.outcome.value,
            "resolve_ms": done.resolve_ms,
            "credit_note_number": note.credit_note_number if note else None,
            "credit_minor": note.amount_minor if note else None,
        }

    body_seen = {"task_id": task.task_id, "dispute_id": dispute_id, **body.model_dump(mode="json")}
    return await once(request, svc, agent, idempotency_key, "disputes.resolve", body_seen, perform)


@router.get("/disputes/summary", name="disputes.summary", **admits(AUDITORS))
async def disputes_summary(
    currency: str = Query(pattern=r"^[A-Z]{3}$"),
    since: datetime = Query(description="ISO time with a zone"),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """How many disputes were resolved since ``since``, how (credited or rejected), how fast (median and p90 time
    to resolve), what the credits came to, and what is still open and held."""
    if since.utcoffset() is None:
        raise ApiError(422, "invalid_request", "since needs a time zone, e.g. 2026-11-01T00:00:00Z")
    async with connection(await svc.pool()) as conn:
        return await dispute_store.desk_figures(conn, currency, since)
