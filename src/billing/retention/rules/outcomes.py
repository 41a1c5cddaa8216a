"""Following a handled case to its horizons: was the customer still a customer 30, 60, 90 days later?

Event time, not wall time. The clock of a partition is the latest ``occurred_at`` seen on that partition
of the accounts topic. Every event topic is keyed by account with the same partition count, so a case and
its account's closure share a partition number; once that partition's clock passes ``case + N days``
(plus a grace for producers that interleave accounts slightly out of order), every closure before the
horizon has been seen, and the horizon can be decided: retained if no closure before it, churned otherwise.

A case is resolved in steps as the clock moves; ``resolve`` says what one step adds:
* one outcome per newly due horizon (each counted once: the caller keys them by (case, horizon));
* changes to the Kaplan-Meier counts: a case is censored at the longest horizon it is known to have
  survived, and moves from there to "churned at day d" or "censored at the next horizon" when that horizon
  resolves, so the counts always describe every resolved case exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.retention.rules.counters import HORIZONS_DAYS

CLOCK_GRACE = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CaseProgress:
    case_at: datetime
    resolved_through: int = 0  # the longest horizon already resolved (0: none)
    churn_day: int | None = None  # set once a resolved horizon saw the closure


@dataclass(frozen=True)
class SurvivalChange:
    day: int
    churned: int  # +1 or 0
    censored: int  # +1, -1 or 0


@dataclass(frozen=True)
class Resolution:
    outcomes: tuple[tuple[int, bool], ...]  # (horizon days, retained), newly decided
    survival: tuple[SurvivalChange, ...]
    resolved_through: int
    churn_day: int | None
    next_due_at: datetime | None  # case time + the next horizon; None when all are resolved


def horizon_time(case_at: datetime, horizon_days: int) -> datetime:
    return case_at + timedelta(days=horizon_days)


def next_due_at(case_at: datetime, resolved_through: int) -> datetime | None:
    """When the first horizon after ``resolved_through`` can be decided (before the grace)."""
    later = [h for h in HORIZONS_DAYS if h > resolved_through]
    return horizon_time(case_at, later[0]) if later else None


def churn_day(case_at: datetime, closed_at: datetime) -> int:
    """Whole days from the case to the closure; a closure before the case counts as day 0."""
    return max(0, (closed_at - case_at) // _DAY)


def churned_by(case_at: datetime, closed_at: datetime | None, horizon_days: int) -> bool:
    return closed_at is not None and closed_at < horizon_time(case_at, horizon_days)


def resolve(
    progress: CaseProgress, closed_at: datetime | None, clock: datetime, grace: timedelta = CLOCK_GRACE
) -> Resolution:
    """The horizons that ``clock`` (the case's partition clock) lets us decide now, and what they change."""
    case_at, before = progress.case_at, progress.resolved_through
    due = [h for h in HORIZONS_DAYS if h > before and horizon_time(case_at, h) + grace <= clock]
    if not due:
        return Resolution((), (), before, progress.churn_day, next_due_at(case_at, before))
    through = due[-1]
    outcomes = tuple((h, not churned_by(case_at, closed_at, h)) for h in due)
    survival, churn = _survival_changes(progress, closed_at, through)
    return Resolution(outcomes, survival, through, churn, next_due_at(case_at, through))


def _survival_changes(
    progress: CaseProgress, closed_at: datetime | None, through: int
) -> tuple[tuple[SurvivalChange, ...], int | None]:
    if progress.churn_day is not None:  # churned earlier: its Kaplan-Meier row is final
        return (), progress.churn_day
    changes = []
    if progress.resolved_through:
        changes.append(SurvivalChange(progress.resolved_through, 0, -1))
    if churned_by(progress.case_at, closed_at, through):
        assert closed_at is not None
        day = churn_day(progress.case_at, closed_at)
        changes.append(SurvivalChange(day, 1, 0))
        return tuple(changes), day
    changes.append(SurvivalChange(through, 0, 1))
    return tuple(changes), None
