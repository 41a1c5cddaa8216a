"""Dispute transitions in PostgreSQL, each with its event on billing.disputes.v1 through the outbox.

Each function runs in the caller's transaction and locks the dispute row first, so two agents (or two worker
processes) acting on one dispute are serialised and the second sees the first one's state. The rules are the
pure core's (src/billing/credits/rules/dispute_lifecycle.py); this module reads, calls them, writes and emits.

Resolving is src/billing/credits/resolution.py: it decides a credit through the discount authority (the credit is
a credit_note grant, its discount.granted.v1 event and credit note issued by src/billing/discounts/service.py) and
records the outcome here with ``under_review`` and ``close``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.contracts import envelope as ev
from billing.contracts.disputes import DisputeInReview, DisputeOutcome, DisputeResolved, DisputeRouted
from billing.contracts.money import Money
from billing.credits.credit_notes import CreditNote
from billing.credits.rules.dispute_lifecycle import DisputeState, IllegalTransition, Timing, is_open, move
from billing.credits.rules.dispute_stats import summarise
from billing.platform.store import enqueue
from billing.platform.topics import DISPUTES
from billing.platform.unit_of_work import one_row

SOURCE = "care/disputes"


class DisputeNotFound(LookupError):
    pass


class DisputeRefused(Exception):
    """A business rule refuses the action; ``rule`` names it (HTTP 409/422 at the edge)."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class Dispute:
    dispute_id: str
    account_id: str
    invoice_id: str
    amount_minor: int
    currency: str
    stage: DisputeState
    opened_at: datetime
    held_minor: int
    reason: str  # DisputeReason as opened: whether its credit corrects a billing error (rules/goodwill.py)


@dataclass(frozen=True)
class Resolution:
    dispute: Dispute
    outcome: DisputeOutcome
    credit_note: CreditNote | None
    resolve_ms: int


async def load(conn: asyncpg.Connection, dispute_id: str) -> Dispute:
    row = await conn.fetchrow(
        "SELECT dispute_id, account_id, invoice_id, amount_minor, currency, stage, opened_at, held_minor, reason"
        " FROM disputes WHERE dispute_id = $1 FOR UPDATE",
        dispute_id,
    )
    if row is None:
        raise DisputeNotFound(f"no dispute {dispute_id}")
    return Dispute(**{**dict(row), "currency": row["currency"].strip(), "stage": DisputeState(row["stage"])})


async def mark_routed(conn: asyncpg.Connection, dispute_id: str, task_id: str, queue: str, now: datetime) -> bool:
    """Record that the dispute became a task in ``queue``; False when it was routed (or moved on) before.

    Meant to be called by the router in the transaction that creates the dispute task.
    """
    dispute = await load(conn, dispute_id)
    if dispute.stage is not DisputeState.OPENED:
        return False
    await _routed(conn, dispute, task_id, queue, now)
    return True


async def _routed(conn: asyncpg.Connection, dispute: Dispute, task_id: str, queue: str, at: datetime) -> Dispute:
    payload = DisputeRouted(
        account_id=dispute.account_id,
        dispute_id=dispute.dispute_id,
        invoice_id=dispute.invoice_id,
        task_id=task_id,
        queue=queue,
    )
    await _step(conn, dispute, DisputeState.ROUTED, None, at, ev.DisputeRoutedEvent, "dispute.routed.v1", payload)
    return Dispute(**{**dispute.__dict__, "stage": DisputeState.ROUTED})


async def _catch_up_routing(conn: asyncpg.Connection, dispute: Dispute) -> Dispute:
    """Record the routing of a dispute the router queued without telling us (the task row is the proof), dated
    when it was routed, so the lifecycle on the topic is complete before review starts."""
    if dispute.stage is not DisputeState.OPENED:
        return dispute
    task = await conn.fetchrow(
        "SELECT task_id, queue, routed_at FROM tasks WHERE kind = 'dispute' AND dispute_id = $1"
        " ORDER BY routed_at LIMIT 1",
        dispute.dispute_id,
    )
    if task is None:
        return dispute
    return await _routed(conn, dispute, task["task_id"], task["queue"], task["routed_at"])


async def start_review(conn: asyncpg.Connection, dispute_id: str, agent_id: str, now: datetime) -> Dispute:
    """Put the dispute in review by ``agent_id`` (from opened or routed); a no-op when already in review."""
    return await under_review(conn, await load(conn, dispute_id), agent_id, now)


async def load_open(conn: asyncpg.Connection, dispute_id: str) -> Dispute:
    """The dispute, locked, while it can still be resolved; DisputeRefused (dispute_state) once it is resolved."""
    dispute = await load(conn, dispute_id)
    if not is_open(dispute.stage):
        raise DisputeRefused("dispute_state", f"dispute_state: dispute {dispute_id} is already {dispute.stage}")
    return dispute


async def account_of(conn: asyncpg.Connection, dispute_id: str) -> str | None:
    return await conn.fetchval("SELECT account_id FROM disputes WHERE dispute_id = $1", dispute_id)


async def opened_by(conn: asyncpg.Connection, dispute_id: str) -> str | None:
    """The agent who opened the dispute through the API; None for one opened elsewhere (e.g. at the desk)."""
    return await conn.fetchval("SELECT agent_id FROM agent_disputes WHERE dispute_id = $1", dispute_id)


async def under_review(conn: asyncpg.Connection, dispute: Dispute, agent_id: str, now: datetime) -> Dispute:
    """``dispute`` (loaded, locked) in review: its routing caught up first, then reviewed by ``agent_id`` unless
    it already is in review. Resolving from the queue skips "routed", never review itself."""
    dispute = await _catch_up_routing(conn, dispute)
    if dispute.stage is DisputeState.IN_REVIEW:
        return dispute
    _legal(dispute, DisputeState.IN_REVIEW)
    return await _review(conn, dispute, agent_id, now)


async def close(
    conn: asyncpg.Connection,
    dispute: Dispute,
    agent_id: str,
    outcome: DisputeOutcome,
    note: CreditNote | None,
    reason: str,
    now: datetime,
) -> Resolution:
    """Record the outcome of a dispute in review (with its credit note, already issued) and emit
    dispute.resolved.v1; the held amount is released."""
    _legal(dispute, DisputeState(outcome.value))
    dispute_id = dispute.dispute_id
    timing = Timing(dispute.opened_at, now)
    await conn.execute(
        "UPDATE disputes SET stage = $2, status = $2, held_minor = 0, resolved_at = $3, credit_minor = $4,"
        " resolution_note = $5, resolve_ms = $6, reviewer_agent_id = coalesce(reviewer_agent_id, $7)"
        " WHERE dispute_id = $1",
        dispute_id,
        outcome.value,
        now,
        note.amount_minor if note else None,
        reason,
        timing.resolve_ms,
        agent_id,
    )
    await _record_transition(
        conn, dispute, DisputeState(outcome.value), agent_id, now, f"dispute-resolved:{dispute_id}"
    )
    payload = DisputeResolved(
        account_id=dispute.account_id,
        dispute_id=dispute_id,
        invoice_id=dispute.invoice_id,
        outcome=outcome,
        credit=Money(amount_minor=note.amount_minor, currency=note.currency) if note else None,
        reason=reason,
        resolved_by=agent_id,
        resolve_ms=timing.resolve_ms,
    )
    await _emit(
        conn,
        DISPUTES.name,
        ev.DisputeResolvedEvent,
        "dispute.resolved.v1",
        f"dispute-resolved:{dispute_id}",
        payload,
        now,
    )
    return Resolution(dispute, outcome, note, timing.resolve_ms)


def _legal(dispute: Dispute, target: DisputeState) -> None:
    try:
        move(dispute.stage, target)
    except IllegalTransition as refused:
        raise DisputeRefused("dispute_state", f"dispute_state: {refused}") from None


async def _review(conn: asyncpg.Connection, dispute: Dispute, agent_id: str, now: datetime) -> Dispute:
    payload = DisputeInReview(
        account_id=dispute.account_id, dispute_id=dispute.dispute_id, invoice_id=dispute.invoice_id, agent_id=agent_id
    )
    await _step(
        conn, dispute, DisputeState.IN_REVIEW, agent_id, now, ev.DisputeInReviewEvent, "dispute.in_review.v1", payload
    )
    await conn.execute("UPDATE disputes SET reviewer_agent_id = $2 WHERE dispute_id = $1", dispute.dispute_id, agent_id)
    return Dispute(**{**dispute.__dict__, "stage": DisputeState.IN_REVIEW})


async def _step(
    conn: asyncpg.Connection,
    dispute: Dispute,
    stage: DisputeState,
    agent_id: str | None,
    now: datetime,
    event_cls: type,
    event_type: str,
    payload: object,
) -> None:
    event_id = f"{event_type.rsplit('.', 1)[0]}:{dispute.dispute_id}"[:128]
    await conn.execute("UPDATE disputes SET stage = $2 WHERE dispute_id = $1", dispute.dispute_id, stage.value)
    await _record_transition(conn, dispute, stage, agent_id, now, event_id)
    await _emit(conn, DISPUTES.name, event_cls, event_type, event_id, payload, now)


async def _record_transition(
    conn: asyncpg.Connection, dispute: Dispute, stage: DisputeState, agent_id: str | None, now: datetime, event_id: str
) -> None:
    await conn.execute(
        "INSERT INTO dispute_transitions (dispute_id, stage, agent_id, event_id, at) VALUES ($1, $2, $3, $4, $5)",
        dispute.dispute_id,
        stage.value,
        agent_id,
        event_id,
        now,
    )


async def _emit(
    conn: asyncpg.Connection,
    topic: str,
    event_cls: type,
    event_type: str,
    event_id: str,
    payload: object,
    now: datetime,
) -> None:
    event = event_cls(
        event_id=event_id[:128], type=event_type, source=SOURCE, occurred_at=now, schema_version=1, payload=payload
    )
    await enqueue(conn, topic, payload.account_id.encode(), ev.dump_event(event))  # type: ignore[attr-defined]


async def desk_figures(conn: asyncpg.Connection, currency: str, since: datetime) -> dict[str, object]:
    """Disputes resolved since ``since`` (summarised by src/billing/credits/rules/dispute_stats.py) and those still open."""
    rows = await conn.fetch(
        "SELECT status, resolve_ms, coalesce(credit_minor, 0) AS credit FROM disputes"
        " WHERE status <> 'open' AND resolve_ms IS NOT NULL AND resolved_at >= $1 AND currency = $2",
        since,
        currency,
    )
    summary = summarise([(r["status"], r["resolve_ms"], r["credit"]) for r in rows])
    still_open = await one_row(
        conn,
        "SELECT count(*) AS open, coalesce(sum(held_minor), 0)::bigint AS held FROM disputes"
        " WHERE status = 'open' AND currency = $1",
        currency,
    )
    return {
        "currency": currency,
        "since": since.isoformat(),
        **summary.__dict__,
        "open": still_open["open"],
        "held_minor": still_open["held"],
    }
