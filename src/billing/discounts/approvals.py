"""discount_requests rows: every request an agent made, and the pending ones waiting for a second person.

A pending request also becomes a ``discount_approval`` task in the supervisors queue (src/billing/care), created
in the same transaction, so the approval is claimed, accepted and completed like any other task. A refused
request leaves no row (the refusal rolls back; the audit log keeps it); only an approver's refusal is recorded.

The approval task (``open_approval_task``) is every request's above authority: a discount, a dispute credit, and a
plan change (src/billing/discounts/plan_change_requests.py). The customer's task the request was asked on records
the approval task it waits for (``tasks.pending_approval_task_id``) until the request is decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.care.lifecycle import NewTask, approval_decided, insert_task, make_task_id, mark_awaiting_approval
from billing.discounts.rules.grants import (
    AgentProfile,
    CustomerStanding,
    GrantRequest,
    NeedsApproval,
    PendingGrant,
    Refused,
)
from billing.discounts.rules.model import DiscountAsk, GrantOutcome, RequestConflict, RequestNotFound
from billing.discounts.rules.policy import GrantKind, Role

APPROVAL_QUEUE = "supervisors"
APPROVAL_TIER = 2
# Above routine work: an agent (and a customer) are waiting on the answer. Ages like any task after that.
APPROVAL_PRIORITY = 60

_COLUMNS = (
    "request_id, account_id, task_id, kind, currency, amount_minor, percent_bp, invoice_count, invoice_id,"
    " reason_code, criteria, requested_by, requester_role, value_minor, customer_since, overdue_invoice_count,"
    " average_invoice_minor, exceeded, status, refusal_rule, refusal_reason, requested_at, dispute_id,"
    " resolution_note, case_task_id"
)


@dataclass(frozen=True)
class PendingRow:
    ask: DiscountAsk
    pending: PendingGrant
    case_task_id: str | None = None  # the customer's task it was asked on (None: asked before it was kept)


async def insert_pending(
    conn: asyncpg.Connection, ask: DiscountAsk, agent: AgentProfile, decision: NeedsApproval, now: datetime
) -> str:
    """Store the pending request and create its approval task; returns the task id."""
    request = ask.request
    task_id = approval_task_id(request.request_id)
    exceeded = [excess.describe() for excess in decision.exceeded]
    await _insert(
        conn,
        ask,
        agent,
        decision.pending.customer,
        decision.pending.value_minor,
        "pending",
        now,
        None,
        task_id,
        exceeded,
    )
    waiting = ApprovalWaiting(
        f"discount-request:{request.request_id}",
        request.account_id,
        ask.reason_code,
        decision.exceeded[0].limit,
        request.currency,
        ask.task_id,
        ask.invoice_id,
    )
    await open_approval_task(conn, task_id, waiting, now)
    return task_id


def approval_task_id(request_id: str) -> str:
    """The id of the approval task of a request (one per request, whatever its kind)."""
    return make_task_id("discount_approval", request_id)


@dataclass(frozen=True)
class ApprovalWaiting:
    """What the approval task of a request says: the request it decides, whose account, why it waits."""

    source: str  # "<kind>-request:<request id>": the task's source, one task per request
    account_id: str
    reason: str
    rule: str  # the limit exceeded
    currency: str
    case_task_id: str | None  # the customer's task it was asked on, which records that it waits
    invoice_id: str | None = None


async def open_approval_task(conn: asyncpg.Connection, task_id: str, waiting: ApprovalWaiting, now: datetime) -> None:
    """The ``discount_approval`` task in the supervisors queue for a request above its requester's authority (a
    discount, a dispute credit or a plan change), and the mark on the customer's task that it waits for it."""
    await insert_task(
        conn,
        NewTask(
            task_id=task_id,
            kind="discount_approval",
            source_event_id=waiting.source[:128],
            account_id=waiting.account_id,
            reason=waiting.reason,
            rule=waiting.rule,
            queue=APPROVAL_QUEUE,
            tier=APPROVAL_TIER,
            static_priority=APPROVAL_PRIORITY,
            priority=APPROVAL_PRIORITY,
            routed_at=now,
            invoice_id=waiting.invoice_id,
            currency=waiting.currency,
        ),
    )
    if waiting.case_task_id is not None:
        await mark_awaiting_approval(conn, waiting.case_task_id, task_id)


async def insert_granted(
    conn: asyncpg.Connection,
    ask: DiscountAsk,
    agent: AgentProfile,
    standing: CustomerStanding,
    value_minor: int,
    now: datetime,
) -> None:
    """A request granted within the requester's own authority."""
    await _insert(conn, ask, agent, standing, value_minor, "approved", now, None, ask.task_id, [])


async def _insert(
    conn: asyncpg.Connection,
    ask: DiscountAsk,
    agent: AgentProfile,
    standing: CustomerStanding | None,
    value_minor: int,
    status: str,
    now: datetime,
    refusal: Refused | None,
    task_id: str | None,
    exceeded: list[str],
) -> None:
    request = ask.request
    placeholders = ", ".join(f"${i}" for i in range(1, 26))
    await conn.execute(
        f"INSERT INTO discount_requests ({_COLUMNS}) VALUES ({placeholders})",
        request.request_id,
        request.account_id,
        task_id,
        request.kind.value,
        request.currency,
        request.amount_minor,
        request.percent_bp,
        request.invoice_count,
        ask.invoice_id,
        ask.reason_code,
        list(ask.criteria),
        agent.agent_id,
        agent.role.value,
        value_minor,
        standing.customer_since if standing else now,
        standing.overdue_invoice_count if standing else 0,
        standing.average_invoice_minor if standing else 0,
        json.dumps(exceeded),
        status,
        refusal.rule if refusal else None,
        refusal.reason if refusal else None,
        now,
        ask.dispute_id,
        ask.note,
        ask.task_id,  # the case: for a pending request task_id is its approval task
    )


async def outcome_of(conn: asyncpg.Connection, request_id: str) -> GrantOutcome | None:
    """The recorded outcome of an earlier request with this id, or None."""
    row = await conn.fetchrow(
        "SELECT r.status, r.value_minor, r.refusal_rule, r.refusal_reason, r.task_id, r.exceeded,"
        " n.credit_note_number FROM discount_requests r LEFT JOIN credit_notes n ON n.grant_id = r.request_id"
        " WHERE r.request_id = $1",
        request_id,
    )
    if row is None:
        return None
    status = {"approved": "granted", "pending": "pending_approval", "refused": "refused"}[row["status"]]
    return GrantOutcome(
        status,
        request_id,
        row["value_minor"],
        row["refusal_rule"],
        row["refusal_reason"],
        row["task_id"],
        row["credit_note_number"],
        tuple(json.loads(row["exceeded"])),
    )


async def load_pending(conn: asyncpg.Connection, request_id: str) -> PendingRow:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM discount_requests WHERE request_id = $1 FOR UPDATE", request_id)
    if row is None:
        raise RequestNotFound(f"no discount request {request_id}")
    if row["status"] != "pending":
        raise RequestConflict(f"discount request {request_id} is already {row['status']}")
    currency = row["currency"].strip()
    request = GrantRequest(
        row["request_id"],
        row["account_id"],
        GrantKind(row["kind"]),
        currency,
        row["amount_minor"],
        row["percent_bp"],
        row["invoice_count"],
    )
    standing = CustomerStanding(
        row["account_id"], currency, row["customer_since"], row["overdue_invoice_count"], row["average_invoice_minor"]
    )
    requester = AgentProfile(row["requested_by"], Role(row["requester_role"]))
    ask = DiscountAsk(
        request,
        row["reason_code"],
        tuple(row["criteria"]),
        row["invoice_id"],
        row["task_id"],
        dispute_id=row["dispute_id"],
        note=row["resolution_note"],
    )
    pending = PendingGrant(request, requester, standing, row["value_minor"], row["requested_at"])
    return PendingRow(ask, pending, row["case_task_id"])


async def mark_approved(conn: asyncpg.Connection, request_id: str, approver_id: str, now: datetime) -> None:
    approval_task = await conn.fetchval(
        "UPDATE discount_requests SET status = 'approved', decided_by = $2, decided_at = $3 WHERE request_id = $1"
        " RETURNING task_id",
        request_id,
        approver_id,
        now,
    )
    await decided(conn, approval_task)


async def mark_refused(
    conn: asyncpg.Connection, request_id: str, approver_id: str, refusal: Refused, now: datetime
) -> None:
    approval_task = await conn.fetchval(
        "UPDATE discount_requests SET status = 'refused', decided_by = $2, decided_at = $3, refusal_rule = $4,"
        " refusal_reason = $5 WHERE request_id = $1 RETURNING task_id",
        request_id,
        approver_id,
        now,
        refusal.rule,
        refusal.reason,
    )
    await decided(conn, approval_task)


async def decided(conn: asyncpg.Connection, approval_task_id: str | None) -> None:
    """A request was approved or refused: the customer's task no longer waits for its approval task."""
    if approval_task_id is not None:
        await approval_decided(conn, approval_task_id)


async def request_of_task(conn: asyncpg.Connection, task_id: str) -> str | None:
    """The request a discount_approval task decides (None for any other task)."""
    return await conn.fetchval("SELECT request_id FROM discount_requests WHERE task_id = $1", task_id)


async def dispute_of(conn: asyncpg.Connection, request_id: str) -> str | None:
    """The dispute a request would credit (None for a discount, or an unknown request)."""
    return await conn.fetchval("SELECT dispute_id FROM discount_requests WHERE request_id = $1", request_id)


async def pending_for_dispute(conn: asyncpg.Connection, dispute_id: str) -> str | None:
    """The approval task of the credit waiting for a second person on this dispute, if one is waiting."""
    return await conn.fetchval(
        "SELECT task_id FROM discount_requests WHERE dispute_id = $1 AND status = 'pending'", dispute_id
    )


async def requests_for_dispute(conn: asyncpg.Connection, dispute_id: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM discount_requests WHERE dispute_id = $1", dispute_id)
