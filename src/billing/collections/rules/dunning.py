"""The dunning policy: what happens to an overdue invoice on which day, and when the sequence is paused.

A policy is read from YAML or JSON (layout in docs/collections.md): a grace period in days after the due date,
the agent queue of collections calls, and ordered steps, each with a unique name, the day overdue it is due on
(day 1 = the first day after due date + grace), and an action: `notice` (a message to the customer), `task` (a
call in the collections queue), `suspend` (account.suspended.v1) or `close` (account.closed.v1, non_payment).
Each step happens once per invoice; a step skipped over (the clock jumped) still happens, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

COLLECTIONS_QUEUE = "collections"


class StepAction(StrEnum):
    NOTICE = "notice"
    TASK = "task"
    SUSPEND = "suspend"
    CLOSE = "close"


@dataclass(frozen=True)
class DunningStep:
    name: str
    day: int
    action: StepAction
    message: str | None = None  # notices: the text sent ({invoice_number}, {open}, {days} are filled in)


@dataclass(frozen=True)
class DunningPolicy:
    grace_days: int
    steps: tuple[DunningStep, ...]  # by day
    queue: str = COLLECTIONS_QUEUE


class PolicyError(ValueError):
    """The policy file says something impossible; the message names the field."""


DEFAULT_POLICY: dict[str, Any] = {
    "grace_days": 3,
    "queue": COLLECTIONS_QUEUE,
    "steps": [
        {
            "name": "reminder",
            "day": 1,
            "action": "notice",
            "message": "Invoice {invoice_number}: {open} is {days} day(s) overdue. Please pay it at your convenience.",
        },
        {
            "name": "second_notice",
            "day": 7,
            "action": "notice",
            "message": "Invoice {invoice_number}: {open} is still unpaid. Service will be suspended on day 21.",
        },
        {"name": "collections_call", "day": 14, "action": "task"},
        {"name": "suspend", "day": 21, "action": "suspend"},
        {"name": "close", "day": 60, "action": "close"},
    ],
}


def parse_policy(data: Mapping[str, Any]) -> DunningPolicy:
    if not isinstance(data, Mapping):
        raise PolicyError("a dunning policy is a mapping with grace_days and steps")
    unknown = set(data) - {"grace_days", "queue", "steps"}
    if unknown:
        raise PolicyError(f"unknown keys: {sorted(unknown)}")
    grace = data.get("grace_days", 0)
    if type(grace) is not int or grace < 0:
        raise PolicyError("grace_days must be a whole number of days, 0 or more")
    queue = data.get("queue", COLLECTIONS_QUEUE)
    if not isinstance(queue, str) or not queue:
        raise PolicyError("queue must be a queue name")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PolicyError("steps must be a non-empty list")
    steps = tuple(_step(i, raw) for i, raw in enumerate(raw_steps))
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise PolicyError(f"step names must be unique: {names}")
    days = [step.day for step in steps]
    if days != sorted(days):
        raise PolicyError(f"steps must be listed by day: {days}")
    return DunningPolicy(grace, steps, queue)


def _step(index: int, raw: object) -> DunningStep:
    where = f"steps[{index}]"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where} must be a mapping")
    unknown = set(raw) - {"name", "day", "action", "message"}
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
    name, day, action, message = raw.get("name"), raw.get("day"), raw.get("action"), raw.get("message")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise PolicyError(f"{where}.name must be a name of 1 to 64 characters")
    if type(day) is not int or day < 1:
        raise PolicyError(f"{where}.day must be a whole number of days overdue, 1 or more")
    try:
        kind = StepAction(action if isinstance(action, str) else "")
    except ValueError:
        raise PolicyError(f"{where}.action must be one of {[a.value for a in StepAction]}") from None
    if message is not None and not isinstance(message, str):
        raise PolicyError(f"{where}.message must be text")
    if kind is StepAction.NOTICE and not message:
        raise PolicyError(f"{where}: a notice needs a message")
    return DunningStep(name, day, kind, message)


def steps_due(policy: DunningPolicy, days: int, done: Iterable[str]) -> tuple[DunningStep, ...]:
    """The steps an invoice `days` overdue should have had and has not, in policy order."""
    taken = set(done)
    return tuple(step for step in policy.steps if step.day <= days and step.name not in taken)


@dataclass(frozen=True)
class Promise:
    """The customer's promise to pay `amount_minor` by `promised_for`, made at `made_at` (event time)."""

    promised_for: date
    amount_minor: int
    made_at: datetime


def paused_by_promise(promises: Iterable[Promise], as_of: datetime) -> Promise | None:
    """The promise pausing dunning at `as_of`, if any: one already made whose date has not passed."""
    current = [p for p in promises if p.made_at <= as_of and as_of.date() <= p.promised_for]
    return max(current, key=lambda p: p.promised_for) if current else None


def notice_text(step: DunningStep, invoice_number: str, open_text: str, days: int) -> str:
    return (step.message or step.name).format(invoice_number=invoice_number, open=open_text, days=days)
