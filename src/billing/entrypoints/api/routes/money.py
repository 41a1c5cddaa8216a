"""Money-moving agent actions: discounts within authority, approvals by a second person, dispute resolutions;
and the audit trail per account and per agent for supervisors and analysts.

Every money route sits behind the verified caller (src/billing/entrypoints/api/access.py ``verified_task``: the held task, and the
caller verified on its call; back-office tasks without a call, such as approvals, need none). Approvals are
task-scoped: the approver holds the discount_approval task (claimed from the supervisors queue), the access rule
every other action follows. A dispute credit is decided by the same authority as a discount
(src/billing/credits/resolution.py): within the resolver's authority 200, above it 202 with an approval task.

Every action REQUIRES an `Idempotency-Key` header (400 ``idempotency_key_required`` without one, before
anything is done): the same key with the same body answers the first response again (and changes nothing); the
same key with a different body is refused with 409. A refusal by a rule answers 422 (403 for rules about the
person: separation of duties, approving others, crediting a dispute one opened; 409 for the dispute's state)
with the rule as the error code, so the audit row names it too, and changes nothing: the transaction, key
included, rolls back, and only the audit row (written outside it) remains.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from billing.entrypoints.api.access import verified_task
from billing.identity.agent_store import Agent
from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.auth import admits, current_agent, services
from billing.entrypoints.api.errors import ApiError, not_found
from billing.identity.rules.roles import Role, WORKERS
from billing.entrypoints.api.services import ApiServices
from billing.contracts.base import AccountId, Identifier, PlainText, Text500
from billing.contracts.disputes import DisputeOutcome
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.discounts.rules.grants import AgentProfile, GrantRequest
from billing.discounts.rules.policy import GrantKind
from billing.discounts.rules.policy import Role as AuthorityRole
from billing.discounts import service
from billing.discounts.idempotency_store import IdempotencyConflict, Response, run_once
from billing.invoicing.catalog_config import load_catalog
from billing.discounts.policy_config import load_policy
from billing.credits import resolution
from billing.credits import dispute_store as disputes
from billing.care.rules.queue_model import QueueTask
from billing.platform.unit_of_work import unit_of_work

router = APIRouter(tags=["money"])
AUDITORS = frozenset({Role.SUPERVISOR, Role.ANALYST})
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


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: DisputeOutcome
    credit_minor: int | None = Field(None, ge=1, le=MAX_AMOUNT_MINOR, strict=True)
    reason: Text500


def _profile(agent: Agent) -> AgentProfile:
    if agent.role not in WORKERS:
        raise ApiError(403, "forbidden_role", f"role {agent.role} has no discount authority")
    return AgentProfile(agent.agent_id, AuthorityRole(agent.role.value))


def _policy(svc: ApiServices):
    # Read once per API process, on first use (configuration, not code; nothing is read at import).
    if not hasattr(svc, "discount_policy"):
        svc.discount_policy = load_policy(svc.settings)  # type: ignore[attr-defined]
    return svc.discount_policy  # type: ignore[attr-defined]


def _plan_fee(svc: ApiServices):
    if not hasattr(svc, "catalog"):
        svc.catalog = load_catalog(svc.settings)  # type: ignore[attr-defined]
    catalog = svc.catalog  # type: ignore[attr-defined]
    return lambda plan_id, at: catalog.plan_in_force(plan_id, at).recurring_fee_minor


class _Refusal(Exception):
    """A rule refused the action: raised inside the transaction so that all of it rolls back, key included."""

    def __init__(self, response: Response) -> None:
        super().__init__(response[1].get("error"))
        self.response = response


_PERSON_RULES = frozenset({"separation_of_duties", "can_approve_others", "max_credit_by_opener_minor"})
_STATE_RULES = frozenset({"dispute_state", "credit_pending_approval"})


def _refused(rule: str | None, reason: str | None) -> Response:
    """A refusal's status and body: 403 for rules about the person, 409 for the dispute's state, else 422."""
    status = 403 if rule in _PERSON_RULES else 409 if rule in _STATE_RULES else 422
    return status, {"error": rule or "refused", "message": reason or "refused"}


async def _once(
    request: Request, svc: ApiServices, agent: Agent, key: str | None, action: str, body: dict[str, Any], perform
) -> JSONResponse:
    """Run ``perform(conn)`` in one transaction under the idempotency key; a refusal rolls it all back."""
    if key is None or not key.strip():
        raise ApiError(
            400,
            "idempotency_key_required",
            "send an Idempotency-Key header with every request that"
            " moves money: a new unique value per action, the same value when retrying it",
        )

    async def checked(conn) -> Response:
        status, payload = await perform(conn)
        if status >= 400:
            raise _Refusal((status, payload))
        return status, payload

    pool = await svc.pool()
    try:
        async with unit_of_work(pool) as conn:
            (status, payload), replayed = await run_once(conn, agent.agent_id, key, action, body, lambda: checked(conn))
            if replayed:
                note_result(request, "replayed")
    except _Refusal as refusal:
        status, payload = refusal.response
    except IdempotencyConflict as conflict:
        raise ApiError(409, "idempotency_key_reused", str(conflict)) from None
    if status >= 400:
        request.state.error_code = payload["error"]
    elif getattr(request.state, "result", None) is None:
        note_result(request, str(payload.get("status") or payload.get("outcome") or "ok"))
    return JSONResponse(payload, status_code=status)


def _grant_response(outcome: service.GrantOutcome) -> Response:
    if outcome.status == "refused":
        return _refused(outcome.rule, outcome.reason)
    return _STATUS[outcome.status], outcome.as_dict()


_KEY = Header(None, max_length=128, description="Required: a unique value per action, the same on a retry.")


@router.post("/tasks/{task_id}/discounts", name="discounts.request", **admits(WORKERS))
async def request_discount(
    body: DiscountBody,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = _KEY,
) -> JSONResponse:
    """Grant within the agent's authority (201), or open an approval task for a supervisor (202)."""
    task_id = task.task_id
    profile = _profile(agent)
    request_id = f"grt-{uuid.uuid4().hex[:20]}"

    async def perform(conn) -> Response:
        currency = await conn.fetchval("SELECT currency FROM accounts WHERE account_id = $1", task.account_id)
        if currency is None:
            return 404, {"error": "not_found", "message": f"account {task.account_id} is not known yet"}
        try:
            grant = GrantRequest(
                request_id,
                task.account_id,
                body.kind,
                currency.strip(),
                body.amount_minor,
                body.percent_bp,
                body.invoice_count,
            )
        except ValueError as wrong:
            return 422, {"error": "invalid_request", "message": str(wrong)}
        ask = service.DiscountAsk(
            grant, body.reason_code, tuple(c[:64] for c in body.criteria), body.invoice_id, task_id
        )
        outcome = await service.request_discount(conn, _policy(svc), profile, ask, svc.clock(), _plan_fee(svc))
        return _grant_response(outcome)

    return await _once(
        request,
        svc,
        agent,
        idempotency_key,
        "discounts.request",
        {"task_id": task_id, **body.model_dump(mode="json")},
        perform,
    )


@router.post("/tasks/{task_id}/approve", name="approvals.approve", **admits(WORKERS))
async def approve(
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = _KEY,
) -> JSONResponse:
    """The holder of a discount_approval task approves it: a different person with enough authority; the grant
    is charged to their budget (a dispute credit's dispute is resolved). Complete the task afterwards as usual."""

    async def perform(conn) -> Response:
        request_id = await _request_of(conn, task)
        outcome = await _decide(
            lambda: resolution.approve(conn, _policy(svc), request_id, _profile(agent), svc.clock())
        )
        if outcome.status == "refused":
            return _refused(outcome.rule, outcome.reason)
        return 200, outcome.as_dict()

    return await _once(request, svc, agent, idempotency_key, "approvals.approve", {"task_id": task.task_id}, perform)


@router.post("/tasks/{task_id}/refuse", name="approvals.refuse", **admits(WORKERS))
async def refuse(
    request: Request,
    reason: Annotated[Text500, Query()],
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = _KEY,
) -> JSONResponse:
    """The holder of a discount_approval task turns it down, with a reason (same separation rules)."""

    async def perform(conn) -> Response:
        request_id = await _request_of(conn, task)
        outcome = await _decide(
            lambda: service.refuse_request(conn, _policy(svc), request_id, _profile(agent), reason, svc.clock())
        )
        if outcome.rule != "refused_by_approver":
            return 403, {"error": outcome.rule, "message": outcome.reason}
        return 200, outcome.as_dict()

    return await _once(
        request, svc, agent, idempotency_key, "approvals.refuse", {"task_id": task.task_id, "reason": reason}, perform
    )


async def _request_of(conn, task: QueueTask) -> str:
    request_id = await conn.fetchval("SELECT request_id FROM discount_requests WHERE task_id = $1", task.task_id)
    if task.kind != "discount_approval" or request_id is None:
        raise ApiError(409, "not_an_approval", f"task {task.task_id} is a {task.kind} task, not a discount approval")
    return request_id


async def _decide(decide) -> service.GrantOutcome:
    try:
        return await decide()
    except service.RequestNotFound as missing:
        raise not_found(str(missing)) from None
    except service.RequestConflict as conflict:
        raise ApiError(409, "request_not_pending", str(conflict)) from None
    except disputes.DisputeRefused as refused:  # the dispute of a credit was resolved meanwhile
        status, body = _refused(refused.rule, refused.reason)
        raise ApiError(status, body["error"], body["message"]) from None


@router.post("/tasks/{task_id}/disputes/{dispute_id}/resolve", name="disputes.resolve", **admits(WORKERS))
async def resolve_dispute(
    dispute_id: Identifier,
    body: ResolveBody,
    request: Request,
    task: QueueTask = Depends(verified_task),
    agent: Agent = Depends(current_agent),
    svc: ApiServices = Depends(services),
    idempotency_key: str | None = _KEY,
) -> JSONResponse:
    """Reject, or credit (a credit note, never more than disputed nor than remains creditable) within the
    resolver's authority (200); above it 202 with an approval task for a second person."""

    async def perform(conn) -> Response:
        owner = await conn.fetchval("SELECT account_id FROM disputes WHERE dispute_id = $1", dispute_id)
        if owner != task.account_id:  # another account's dispute is out of reach, whatever exists
            return 404, {"error": "not_found", "message": f"no dispute {dispute_id} on this task's account"}
        try:
            done = await resolution.resolve(
                conn,
                _policy(svc),
                _profile(agent),
                dispute_id,
                body.outcome,
                body.credit_minor,
                body.reason,
                svc.clock(),
                task.task_id,
            )
        except disputes.DisputeRefused as refused:
            return _refused(refused.rule, refused.reason)
        if isinstance(done, service.GrantOutcome):  # above the resolver's authority: waiting for approval
            return 202, {"dispute_id": dispute_id, **done.as_dict()}
        note = done.credit_note
        return 200, {
            "dispute_id": dispute_id,
            "outcome": done.outcome.value,
            "resolve_ms": done.resolve_ms,
            "credit_note_number": note.credit_note_number if note else None,
            "credit_minor": note.amount_minor if note else None,
        }

    return await _once(
        request,
        svc,
        agent,
        idempotency_key,
        "disputes.resolve",
        {"task_id": task.task_id, "dispute_id": dispute_id, **body.model_dump(mode="json")},
        perform,
    )


@router.get("/audit", name="audit.query", **admits(AUDITORS))
async def audit(
    account: AccountId | None = Query(None),
    agent_id: Identifier | None = Query(None, alias="agent"),
    limit: int = Query(200, ge=1, le=1000),
    svc: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Audit rows (every grant, approval, refusal and credit is one) for an account and/or an agent, newest first."""
    if account is None and agent_id is None:
        raise ApiError(422, "invalid_request", "give ?account= or ?agent= (or both)")
    rows = await (await svc.pool()).fetch(
        "SELECT * FROM audit_log WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR agent_id = $2)"
        " ORDER BY audit_id DESC LIMIT $3",
        account,
        agent_id,
        limit,
    )
    return {"entries": [_jsonable(dict(row)) for row in rows]}


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
    return await disputes.desk_figures(await svc.pool(), currency, since)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}


__all__ = ["router"]
