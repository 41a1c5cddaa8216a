"""The life of one customer contact, as a pure state machine: started -> answered | abandoned -> ended.

A contact that was abandoned cannot be answered, one that was never started cannot end, and each phase
happens once. A phase that breaks this is refused (dead-lettered) rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


class CallRuleViolation(ValueError):
    pass


@dataclass(frozen=True)
class CallState:
    call_id: str
    account_id: str
    started_at: datetime
    answered_at: datetime | None = None
    agent_id: str | None = None
    abandoned_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None


def answer(state: CallState | None, at: datetime, agent_id: str) -> CallState:
    current = _require_open(state, "answered")
    if current.answered_at is not None:
        raise CallRuleViolation(f"call {current.call_id} was already answered")
    if current.abandoned_at is not None:
        raise CallRuleViolation(f"call {current.call_id} was abandoned and cannot be answered")
    return replace(current, answered_at=at, agent_id=agent_id)


def abandon(state: CallState | None, at: datetime) -> CallState:
    current = _require_open(state, "abandoned")
    if current.answered_at is not None:
        raise CallRuleViolation(f"call {current.call_id} was answered and cannot be abandoned")
    if current.abandoned_at is not None:
        raise CallRuleViolation(f"call {current.call_id} was already abandoned")
    return replace(current, abandoned_at=at)


def end(state: CallState | None, at: datetime, outcome: str) -> CallState:
    current = _require_open(state, "ended")
    return replace(current, ended_at=at, outcome=outcome)


def _require_open(state: CallState | None, phase: str) -> CallState:
    if state is None:
        raise CallRuleViolation(f"a call cannot be {phase} before it started")
    if state.ended_at is not None:
        raise CallRuleViolation(f"call {state.call_id} already ended")
    return state
