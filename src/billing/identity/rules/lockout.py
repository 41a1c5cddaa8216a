"""The verification lockout rule, shared across channels. Pure: the caller passes the state and the clock.

PCI DSS 8.3.4 asks for at most 10 attempts and at least 30 minutes; we lock after 5 failures in a row for
30 minutes (both settings). A success resets the count. While locked no secret is even checked, so a locked
account gives a guesser no signal; when the lock ends the count starts again from zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class LockoutState:
    failures: int = 0
    locked_until: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def after_failure(state: LockoutState, policy: LockoutPolicy, now: datetime) -> LockoutState:
    """Count a wrong secret; the failure that reaches the limit locks the account from `now`."""
    base = LockoutState() if _lock_expired(state, now) else state
    failures = base.failures + 1
    if failures >= policy.max_failures:
        return LockoutState(failures=0, locked_until=now + policy.lock_for)
    return replace(base, failures=failures)


def after_success(state: LockoutState) -> LockoutState:
    return LockoutState()


def _lock_expired(state: LockoutState, now: datetime) -> bool:
    return state.locked_until is not None and now >= state.locked_until
