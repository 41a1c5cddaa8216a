"""plan_change_requests rows: plan changes above their requester's plan-change authority, waiting for a second
person (the rule: src/billing/discounts/rules/plan_change.py).

A pending request opens the authority's approval task in the supervisors queue in the same transaction
(``approvals.open_approval_task``, as a discount above authority does), and the customer's task records that it
waits for it. The approval, made by the holder of that task through the same routes as a discount's, stores its
answer here, so a repeated approval answers it again and changes nothing; a refused request keeps the approver's
reason. Nothing is published while a request waits: the plan change event is the approval's.

One request at a time waits per account (a unique index): another plan change on the account is refused until
it is decided, so an approval never lands on top of a change made meanwhile.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from billing.discounts.approvals import ApprovalWaiting, approval_task_id, decided, open_approval_task
from billing.discounts.rules.grants import AgentProfile
from billing.discounts.rules.model import RequestConflict, RequestNotFound
from billing.discounts.rules.plan_change import LIMIT
from billing.discounts.rules.policy import Role

_COLUMNS = (
    "request_id, account_id, case_task_id, task_id, currency, from_plan_id, plan_id, effective, reduction_minor,"
    " reason, exceeded, requested_by, requester_role, requested_at, status, decided_by, refusal_reason, answer"
)


@dataclass(frozen=True)
class PlanChangeRequest:
    """A plan change asked for on a customer's task, above its requester's limit."""

    request_id: str
    account_id: str
    case_task_id: str
    currency: str
    from_plan_id: str  # the plan in force when it was asked for
    plan_id: str
    effective: str  # "now" | "next_cycle": the approval computes the time (src/billing/accounts/plan_change.py)
    reduction_minor: int  # how much less a month, when it was asked for
    reason: str | None  # the requester's, for the approver
    requested_by: AgentProfile
    requested_at: datetime
    exceeded: tuple[str, ...] = ()
    task_id: str = ""  # its approval task
    status: str = "pending"  # pending | approved | refused
    decided_by: str | None = None
    refusal_reason: str | None = None
    answer: dict[str, Any] | None = field(default=None, compare=False)  # the approval's, once approved


def new_request_id() -> str:
    return f"pcr-{uuid.uuid4().hex[:20]}"


async def insert_pending(conn: asyncpg.Connection, request: PlanChangeRequest) -> str:
    """Store the request and open its approval task (the customer's task records it); the approval task's id."""
    task_id = approval_task_id(request.request_id)
    await conn.execute(
        f"INSERT INTO plan_change_requests ({_COLUMNS}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', NULL, NULL, NULL)",
        request.request_id,
        request.account_id,
        request.case_task_id,
        task_id,
        request.currency,
        request.from_plan_id,
        request.plan_id,
        request.effective,
        request.reduction_minor,
        request.reason,
        json.dumps(list(request.exceeded)),
        request.requested_by.agent_id,
        request.requested_by.role.value,
        request.requested_at,
    )
    source = f"plan-change-request:{request.request_id}"
    # The task's reason, as a discount's reason code: short (200 characters), the change and the requester's why.
    why = f"plan change {request.from_plan_id} to {request.plan_id}, {request.effective}"
    why = f"{why}: {request.reason}"[:200] if request.reason else why[:200]
    waiting = ApprovalWaiting(source, request.account_id, why, LIMIT, request.currency, request.case_task_id)
    await open_approval_task(conn, task_id, waiting, request.requested_at)
    return task_id


async def request_of_task(conn: asyncpg.Connection, task_id: str) -> str | None:
    """The plan change request an approval task decides (None: the task decides something else)."""
    return await conn.fetchval("SELECT request_id FROM plan_change_requests WHERE task_id = $1", task_id)


async def pending_for_account(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> PlanChangeRequest | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM plan_change_requests WHERE account_id = $1 AND status = 'pending'", account_id
    )
    return None if row is None else _request(row)


async def load_for_decision(conn: asyncpg.Connection, request_id: str) -> PlanChangeRequest:
    """The request, locked until the decision's transaction ends (RequestNotFound when there is none)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM plan_change_requests WHERE request_id = $1 FOR UPDATE", request_id
    )
    if row is None:
        raise RequestNotFound(f"no plan change request {request_id}")
    return _request(row)


def pending_or_conflict(request: PlanChangeRequest) -> None:
    if request.status != "pending":
        raise RequestConflict(f"plan change request {request.request_id} is already {request.status}")


async def mark_approved(
    conn: asyncpg.Connection, request: PlanChangeRequest, approver_id: str, answer: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        "UPDATE plan_change_requests SET status = 'approved', decided_by = $2, decided_at = $3, answer = $4"
        " WHERE request_id = $1",
        request.request_id,
        approver_id,
        now,
        json.dumps(answer, default=str),
    )
    await decided(conn, request.task_id)


async def mark_refused(
    conn: asyncpg.Connection, request: PlanChangeRequest, approver_id: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE plan_change_requests SET status = 'refused', decided_by = $2, decided_at = $3, refusal_reason = $4"
        " WHERE request_id = $1",
        request.request_id,
        approver_id,
        now,
        reason,
    )
    await decided(conn, request.task_id)


async def waiting(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Pending requests with their open approval tasks, for the approvals list (oldest first)."""
    rows = await conn.fetch(
        "SELECT t.task_id, t.state AS task_state, t.holder_agent_id, t.routed_at, r.request_id, r.account_id,"
        " r.currency, r.from_plan_id, r.plan_id, r.effective, r.reduction_minor, r.reason, r.requested_by,"
        " r.case_task_id, r.exceeded::text AS exceeded"
        " FROM plan_change_requests r JOIN tasks t ON t.task_id = r.task_id"
        " WHERE r.status = 'pending' AND t.state IN ('queued', 'reserved', 'accepted', 'wrapping')"
        " ORDER BY t.routed_at"
    )
    return [{**dict(row), "currency": row["currency"].strip(), "exceeded": json.loads(row["exceeded"])} for row in rows]


def _request(row: asyncpg.Record) -> PlanChangeRequest:
    return PlanChangeRequest(
        request_id=row["request_id"],
        account_id=row["account_id"],
        case_task_id=row["case_task_id"],
        currency=row["currency"].strip(),
        from_plan_id=row["from_plan_id"],
        plan_id=row["plan_id"],
        effective=row["effective"],
        reduction_minor=row["reduction_minor"],
        reason=row["reason"],
        requested_by=AgentProfile(row["requested_by"], Role(row["requester_role"])),
        requested_at=row["requested_at"],
        exceeded=tuple(json.loads(row["exceeded"])),
        task_id=row["task_id"],
        status=row["status"],
        decided_by=row["decided_by"],
        refusal_reason=row["refusal_reason"],
        answer=None if row["answer"] is None else json.loads(row["answer"]),
    )
