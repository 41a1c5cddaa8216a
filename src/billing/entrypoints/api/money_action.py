"""The steps every money-moving route shares: the authority profile of the caller, the discount policy, the
required ``Idempotency-Key`` header, one transaction per action, and how a refusal is answered.

Every money route sits behind the verified caller (src/billing/entrypoints/api/access.py ``verified_task``: the
held task, and the caller verified on its call; back-office tasks without a call, such as approvals, need none).

Every action REQUIRES an `Idempotency-Key` header (400 ``idempotency_key_required`` without one, before
anything is done): the same key with the same body answers the first response again (and changes nothing); the
same key with a different body is refused with 409. A refusal by a rule answers 422 (403 for rules about the
person: separation of duties, approving others, crediting a dispute one opened, a plan change beyond every
approver's authority or approved above the approver's own; 409 for the dispute's state, for the retention holdout
and for a plan change while another waits for approval) with the rule as the error code, so the audit row names it
too, and changes nothing: the transaction, key included, rolls back, and only the audit row (written outside it)
remains.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import Header, Request
from fastapi.responses import JSONResponse

from billing.discounts.history import PlanFee
from billing.discounts.idempotency_store import IdempotencyConflict, Response, run_once
from billing.discounts.policy_config import load_policy
from billing.discounts.rules.grants import AgentProfile
from billing.discounts.rules.policy import AuthorityPolicy
from billing.discounts.rules.policy import Role as AuthorityRole
from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.errors import ApiError
from billing.entrypoints.api.services import ApiServices
from billing.identity.agent_store import Agent
from billing.identity.rules.roles import WORKERS
from billing.invoicing.catalog_config import load_catalog
from billing.invoicing.rules.catalog import Catalog
from billing.platform.unit_of_work import unit_of_work

IDEMPOTENCY_KEY = Header(None, max_length=128, description="Required: a unique value per action, the same on a retry.")

Perform = Callable[[asyncpg.Connection], Awaitable[Response]]


def authority_profile(agent: Agent) -> AgentProfile:
    if agent.role not in WORKERS:
        raise ApiError(403, "forbidden_role", f"role {agent.role} has no discount authority")
    return AgentProfile(agent.agent_id, AuthorityRole(agent.role.value))


def discount_policy(svc: ApiServices) -> AuthorityPolicy:
    # Read once per API process, on first use (configuration, not code; nothing is read at import).
    if not hasattr(svc, "discount_policy"):
        svc.discount_policy = load_policy(svc.settings)  # type: ignore[attr-defined]
    return svc.discount_policy  # type: ignore[attr-defined]


def api_catalog(svc: ApiServices) -> Catalog:
    """The price catalog, read once per API process on first use."""
    if not hasattr(svc, "catalog"):
        svc.catalog = load_catalog(svc.settings)  # type: ignore[attr-defined]
    return svc.catalog  # type: ignore[attr-defined]


def plan_fee(svc: ApiServices) -> PlanFee:
    catalog = api_catalog(svc)
    return lambda plan_id, at: catalog.plan_in_force(plan_id, at).recurring_fee_minor


_PERSON_RULES = frozenset(
    {"separation_of_duties", "can_approve_others", "max_credit_by_opener_minor", "max_plan_change_reduction_minor"}
)
_STATE_RULES = frozenset(
    {"dispute_state", "credit_pending_approval", "withheld_in_control_arm", "plan_change_pending_approval"}
)


def refused(rule: str | None, reason: str | None) -> Response:
    """A refusal's status and body: 403 for rules about the person, 409 for the state (a dispute's, the
    retention holdout's), else 422."""
    status = 403 if rule in _PERSON_RULES else 409 if rule in _STATE_RULES else 422
    return status, {"error": rule or "refused", "message": reason or "refused"}


class _Refusal(Exception):
    """A rule refused the action: raised inside the transaction so that all of it rolls back, key included."""

    def __init__(self, response: Response) -> None:
        super().__init__(response[1].get("error"))
        self.response = response


async def once(
    request: Request,
    svc: ApiServices,
    agent: Agent,
    key: str | None,
    action: str,
    body: dict[str, Any],
    perform: Perform,
) -> JSONResponse:
    """Run ``perform(conn)`` in one transaction under the idempotency key; a refusal rolls it all back."""
    if key is None or not key.strip():
        raise ApiError(
            400,
            "idempotency_key_required",
            "send an Idempotency-Key header with every request that"
            " moves money: a new unique value per action, the same value when retrying it",
        )

    async def checked(conn: asyncpg.Connection) -> Response:
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
