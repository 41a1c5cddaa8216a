"""Customer-contact events -> the `calls` table, through the pure rules in `call_rules`."""

from __future__ import annotations

import asyncpg

from billing.care.rules import call_rules
from billing.care.rules.call_rules import CallRuleViolation, CallState
from billing.contracts import Event
from billing.platform.records import Handler, Rejected

_COLUMNS = "call_id, account_id, started_at, answered_at, agent_id, abandoned_at, ended_at, outcome"


async def on_started(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    inserted = await conn.fetchval(
        "INSERT INTO calls (call_id, account_id, reason, channel, invoice_id, started_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id) DO NOTHING RETURNING true",
        p.call_id,
        p.account_id,
        str(p.reason),
        str(p.channel),
        p.invoice_id,
        event.occurred_at,
    )
    if not inserted:
        raise Rejected(f"call {p.call_id} was already started by another event")


async def on_answered(conn: asyncpg.Connection, event: Event) -> None:
    await _transition(conn, event, lambda s: call_rules.answer(s, event.occurred_at, event.payload.agent_id))


async def on_abandoned(conn: asyncpg.Connection, event: Event) -> None:
    await _transition(conn, event, lambda s: call_rules.abandon(s, event.occurred_at))


async def on_ended(conn: asyncpg.Connection, event: Event) -> None:
    await _transition(conn, event, lambda s: call_rules.end(s, event.occurred_at, str(event.payload.outcome)))


async def _transition(conn: asyncpg.Connection, event: Event, rule) -> None:
    p = event.payload
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM calls WHERE call_id = $1 FOR UPDATE", p.call_id)
    state = CallState(**dict(row)) if row else None
    if state is not None and state.account_id != p.account_id:
        raise Rejected(f"call {p.call_id} belongs to account {state.account_id}, not {p.account_id}")
    try:
        new = rule(state)
    except CallRuleViolation as violation:
        raise Rejected(str(violation)) from violation
    await conn.execute(
        "UPDATE calls SET answered_at = $2, agent_id = $3, abandoned_at = $4, ended_at = $5, outcome = $6"
        " WHERE call_id = $1",
        new.call_id,
        new.answered_at,
        new.agent_id,
        new.abandoned_at,
        new.ended_at,
        new.outcome,
    )


HANDLERS: dict[str, Handler] = {
    "call.started.v1": on_started,
    "call.answered.v1": on_answered,
    "call.abandoned.v1": on_abandoned,
    "call.ended.v1": on_ended,
}
