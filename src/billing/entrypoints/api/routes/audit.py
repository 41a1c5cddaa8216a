"""`GET /audit`: the audit trail per account and per agent, for supervisors and analysts
(src/billing/identity/rules/roles.py ``AUDITORS``). Every grant, approval, refusal and credit is one row; the
rows are written by src/billing/entrypoints/api/audit.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from billing.contracts.base import AccountId, Identifier
from billing.entrypoints.api.auth import admits, services
from billing.entrypoints.api.errors import ApiError
from billing.entrypoints.api.services import ApiServices
from billing.identity.rules.roles import AUDITORS

router = APIRouter(tags=["money"])


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


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}
