"""Dispute transitions in PostgreSQL, each with its event on billing.disputes.v1 through the outbox.

Each function runs in the caller's transaction and locks the dispute row first, so two agents (or two worker
processes) acting on one dispute are serialised and the second sees the first one's state. The rules are the
pure core's (streams/disputes/lifecycle.py, credit.py); this module reads, calls them, writes and emits.

A credit resolution is also a grant: it emits discount.granted.v1 (kind credit_note, grant id
``dispute:<dispute_id>``) and issues the credit note in the same transaction, so every credit is a discount-
granted event and the credit note can never be issued twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from schemas import envelope as ev
from schemas.credit_notes import CreditSource
from schemas.discounts import DiscountGranted, DiscountKind
from schemas.disputes import DisputeInReview, DisputeOutcome, DisputeResolved, DisputeRouted
from schemas.money import Money
from streams.discounts.credit_notes import CreditNote, NoteRequest, invoice_credit, issue_credit_note, lock_invoice
from streams.disputes.credit import CreditRefusal, check_credit
from streams.disputes.lifecycle import DisputeState, IllegalTransition, Timing, is_open, move, path_to
from streams.disputes.stats import summarise
from streams.store import enqueue
from streams.topics import DISCOUNTS_GRANTED, DISPUTES

SOURCE = "care/disputes"
CreditLimit = Callable[[str], int]  # currency -> largest credit this person may give at once


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


@dataclass(frozen=True)
class Resolution:
    dispute: Dispute
    outcome: DisputeOutcome
    credit_note: CreditNote | None
    resolve_ms: int


async def load(conn: asyncpg.Connection, dispute_id: str) -> Dispute:
    row = await conn.fetchrow(
        "SELECT dispute_id, account_id, invoice_id, amount_minor, currency, stage, opened_at, held_minor"
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
    payload = DisputeRouted(account_id=dispute.account_id, dispute_id=dispute.dispute_id,
                            invoice_id=dispute.invoice_id, task_id=task_id, queue=queue)  # fmt: skip
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
    dispute = await _catch_up_routing(conn, await load(conn, dispute_id))
    if dispute.stage is DisputeState.IN_REVIEW:
        return dispute
    _legal(dispute, DisputeState.IN_REVIEW)
    return await _review(conn, dispute, agent_id, now)


async def resolve(
    conn: asyncpg.Connection, dispute_id: str, agent_id: str, outcome: DisputeOutcome,
    credit_minor: int | None, reason: str, now: datetime, credit_limit: CreditLimit | None = None,
) -> Resolution:  # fmt: skip
    """Credit or reject; steps through review first when the agent resolves straight from the queue.

    ``credit_limit(currency)`` is the resolver's authority for one credit (their role's max_per_grant_minor);
    a larger credit is refused under that rule, for someone more senior to resolve. Dispute credits correct
    billing errors, so they are capped per credit but not charged to the monthly discount budget.
    """
    dispute = await _catch_up_routing(conn, await load(conn, dispute_id))
    if not is_open(dispute.stage):
        raise DisputeRefused("dispute_state", f"dispute_state: dispute {dispute_id} is already {dispute.stage}")
    if _steps_before(dispute, DisputeState(outcome.value)):
        dispute = await _review(conn, dispute, agent_id, now)
    note = None
    if outcome is DisputeOutcome.CREDITED:
        _check_limit(dispute, credit_minor, credit_limit)
        note = await _credit(conn, dispute, agent_id, credit_minor, reason, now)
    elif credit_minor is not None:
        raise DisputeRefused("credit_matches_outcome", "credit_matches_outcome: a rejection carries no credit")
    timing = Timing(dispute.opened_at, now)
    await conn.execute(
        "UPDATE disputes SET stage = $2, status = $2, held_minor = 0, resolved_at = $3, credit_minor = $4,"
        " resolution_note = $5, resolve_ms = $6, reviewer_agent_id = coalesce(reviewer_agent_id, $7)"
        " WHERE dispute_id = $1",
        dispute_id, outcome.value, now, note.amount_minor if note else None, reason, timing.resolve_ms, agent_id,
    )  # fmt: skip
    await _record_transition(conn, dispute, DisputeState(outcome.value), agent_id, now, f"dispute-resolved:{dispute_id}")
    payload = DisputeResolved(
        account_id=dispute.account_id, dispute_id=dispute_id, invoice_id=dispute.invoice_id, outcome=outcome,
        credit=Money(amount_minor=note.amount_minor, currency=note.currency) if note else None, reason=reason,
        resolved_by=agent_id, resolve_ms=timing.resolve_ms,
    )  # fmt: skip
    await _emit(conn, DISPUTES.name, ev.DisputeResolvedEvent, "dispute.resolved.v1", f"dispute-resolved:{dispute_id}",
                payload, now)  # fmt: skip
    return Resolution(dispute, outcome, note, timing.resolve_ms)


def _check_limit(dispute: Dispute, credit_minor: int | None, credit_limit: CreditLimit | None) -> None:
    limit = None if credit_limit is None else credit_limit(dispute.currency)
    if limit is not None and credit_minor is not None and credit_minor > limit:
        raise DisputeRefused("max_per_grant_minor",
                             f"max_per_grant_minor: a credit of {credit_minor} is above your {limit} per credit")


def _steps_before(dispute: Dispute, target: DisputeState) -> tuple[DisputeState, ...]:
    try:
        steps = path_to(dispute.stage, target)
    except IllegalTransition as refused:
        raise DisputeRefused("dispute_state", f"dispute_state: {refused}") from None
    # Resolving from the queue skips "routed" (opened -> in_review is legal), never review itself.
    return tuple(step for step in steps if step is DisputeState.IN_REVIEW)


def _legal(dispute: Dispute, target: DisputeState) -> None:
    try:
        move(dispute.stage, target)
    except IllegalTransition as refused:
        raise DisputeRefused("dispute_state", f"dispute_state: {refused}") from None


async def _review(conn: asyncpg.Connection, dispute: Dispute, agent_id: str, now: datetime) -> Dispute:
    payload = DisputeInReview(account_id=dispute.account_id, dispute_id=dispute.dispute_id,
                              invoice_id=dispute.invoice_id, agent_id=agent_id)  # fmt: skip
    await _step(conn, dispute, DisputeState.IN_REVIEW, agent_id, now, ev.DisputeInReviewEvent,
                "dispute.in_review.v1", payload)  # fmt: skip
    await conn.execute("UPDATE disputes SET reviewer_agent_id = $2 WHERE dispute_id = $1", dispute.dispute_id, agent_id)
    return Dispute(**{**dispute.__dict__, "stage": DisputeState.IN_REVIEW})


async def _credit(
    conn: asyncpg.Connection, dispute: Dispute, agent_id: str, credit_minor: int | None, reason: str, now: datetime
) -> CreditNote:
    if credit_minor is None or credit_minor < 1:
        raise DisputeRefused("credit_matches_outcome", "credit_matches_outcome: a credit needs a positive amount")
    await lock_invoice(conn, dispute.invoice_id)
    invoice = await invoice_credit(conn, dispute.invoice_id, dispute.account_id)
    if invoice is None:
        raise DisputeRefused("invoice_issued", f"invoice_issued: no issued invoice {dispute.invoice_id}")
    refusal: CreditRefusal | None = check_credit(invoice, credit_minor, dispute.currency, dispute.amount_minor)
    if refusal is not None:
        raise DisputeRefused(refusal.rule, refusal.reason)
    grant_id = f"dispute:{dispute.dispute_id}"[:128]
    grant = DiscountGranted(
        account_id=dispute.account_id, grant_id=grant_id, kind=DiscountKind.CREDIT_NOTE,
        amount=Money(amount_minor=credit_minor, currency=dispute.currency), invoice_id=dispute.invoice_id,
        reason_code="dispute_upheld", criteria=(f"dispute {dispute.dispute_id}"[:64],), granted_by=agent_id,
    )  # fmt: skip
    await _emit(conn, DISCOUNTS_GRANTED.name, ev.DiscountGrantedEvent, "discount.granted.v1",
                f"discount-granted:{grant_id}", grant, now)  # fmt: skip
    note = NoteRequest(grant_id, dispute.account_id, dispute.invoice_id, credit_minor, dispute.currency,
                       reason[:500], agent_id, CreditSource.DISPUTE, dispute.dispute_id)  # fmt: skip
    return await issue_credit_note(conn, note, now)


async def _step(
    conn: asyncpg.Connection, dispute: Dispute, stage: DisputeState, agent_id: str | None, now: datetime,
    event_cls: type, event_type: str, payload: object,
) -> None:  # fmt: skip
    event_id = f"{event_type.rsplit('.', 1)[0]}:{dispute.dispute_id}"[:128]
    await conn.execute("UPDATE disputes SET stage = $2 WHERE dispute_id = $1", dispute.dispute_id, stage.value)
    await _record_transition(conn, dispute, stage, agent_id, now, event_id)
    await _emit(conn, DISPUTES.name, event_cls, event_type, event_id, payload, now)


async def _record_transition(
    conn: asyncpg.Connection, dispute: Dispute, stage: DisputeState, agent_id: str | None, now: datetime, event_id: str
) -> None:
    await conn.execute(
        "INSERT INTO dispute_transitions (dispute_id, stage, agent_id, event_id, at) VALUES ($1, $2, $3, $4, $5)",
        dispute.dispute_id, stage.value, agent_id, event_id, now,
    )  # fmt: skip


async def _emit(
    conn: asyncpg.Connection, topic: str, event_cls: type, event_type: str, event_id: str, payload: object,
    now: datetime,
) -> None:  # fmt: skip
    event = event_cls(event_id=event_id[:128], type=event_type, source=SOURCE, occurred_at=now, schema_version=1,
                      payload=payload)  # fmt: skip
    await enqueue(conn, topic, payload.account_id.encode(), ev.dump_event(event))  # type: ignore[attr-defined]


async def desk_figures(conn: asyncpg.Connection | asyncpg.Pool, currency: str, since: datetime) -> dict[str, object]:
    """Disputes resolved since ``since`` (summarised by streams/disputes/stats.py) and those still open."""
    rows = await conn.fetch(
        "SELECT status, resolve_ms, coalesce(credit_minor, 0) AS credit FROM disputes"
        " WHERE status <> 'open' AND resolve_ms IS NOT NULL AND resolved_at >= $1 AND currency = $2",
        since, currency,
    )  # fmt: skip
    summary = summarise([(r["status"], r["resolve_ms"], r["credit"]) for r in rows])
    still_open = await conn.fetchrow(
        "SELECT count(*) AS open, coalesce(sum(held_minor), 0)::bigint AS held FROM disputes"
        " WHERE status = 'open' AND currency = $1",
        currency,
    )
    return {"currency": currency, "since": since.isoformat(), **summary.__dict__,
            "open": still_open["open"], "held_minor": still_open["held"]}  # fmt: skip
