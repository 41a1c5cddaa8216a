"""Whether an agent may record the customer's promise to pay: a date soon after today and no more than is owed.

`today` is the event-time day (the closer's clock), so a promise and the dunning it pauses count days alike. A
promise pauses every dunning step of the account until its date has passed (rules/dunning.py paused_by_promise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

MAX_PROMISE_DAYS = 30  # a promise further away than a month is a payment plan, not a pause of dunning


@dataclass(frozen=True)
class PromiseRefused:
    rule: str  # the API's error code
    reason: str  # one sentence for the agent


def promise_refusal(
    promised_for: date, amount_minor: int, open_minor: int, today: date, max_days: int = MAX_PROMISE_DAYS
) -> PromiseRefused | None:
    """Why the promise cannot be recorded; None when it can."""
    if open_minor <= 0:
        return PromiseRefused("nothing_owed", "the account has no open invoice to promise a payment for")
    if amount_minor > open_minor:
        return PromiseRefused(
            "promise_exceeds_open", f"{amount_minor} promised but only {open_minor} is open (minor units)"
        )
    if promised_for <= today:
        return PromiseRefused("promise_date_passed", f"the promised date must be after today ({today.isoformat()})")
    latest = today + timedelta(days=max_days)
    if promised_for > latest:
        return PromiseRefused(
            "promise_too_far", f"the promised date must be at most {max_days} days away ({latest.isoformat()})"
        )
    return None
