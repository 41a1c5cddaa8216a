"""An account's plan over time: the plan in force at an instant, the change still to come, and what a new change
replaces.

The plan history is the account's plan periods: its opening, then every account.plan_changed.v1 applied, the rows
of ``account_plan_changes`` that the rating and the cycle closer bill from. Periods come in the order billing reads
them (effective time, then event id); two periods starting at the same instant count as one, the later in that
order, as the closer takes them.

- In force at an instant T: the plan of the latest period that started at or before T, as the rating prices a call
  started at T (src/billing/usage/rules/rating.py). Before the first period (an account not open yet at T): the
  plan it opens on.
- Pending at T: the first later period that moves the account to another plan ("changes to X on <date>").
- A new change replaces every period that starts at or after its own effective time: the latest instruction wins
  from the moment it takes effect. A second "next cycle" change before the first took effect replaces it; a "now"
  change after a pending one cancels the pending one, so billing and what people see agree (the new plan from now
  on, nothing pending). The account projection applies this when it stores a change
  (src/billing/accounts/projection.py).

Pure: src/billing/accounts/facts.py reads the periods (``plan_history``) and hands them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time


@dataclass(frozen=True)
class PlanPeriod:
    """One row of the plan history: from ``effective_at`` the account is on ``plan_id``."""

    plan_id: str
    effective_at: datetime
    event_id: str = ""

    def summary(self) -> str:
        """The change in words: "changes to mobile-l on 2028-04-01" (with the UTC time unless it is midnight)."""
        at = self.effective_at.astimezone(UTC)
        when = f"{at:%Y-%m-%d}" if at.time() == time.min else f"{at:%Y-%m-%d %H:%M} UTC"
        return f"changes to {self.plan_id} on {when}"

    def as_json(self) -> dict[str, str]:
        return {"plan_id": self.plan_id, "effective_at": self.effective_at.isoformat(), "summary": self.summary()}


@dataclass(frozen=True)
class PlanStatus:
    """What the account is on at ``at``, and the change still to come after it."""

    plan_id: str
    at: datetime
    pending: PlanPeriod | None = None

    def pending_json(self) -> dict[str, str] | None:
        return None if self.pending is None else self.pending.as_json()


@dataclass(frozen=True)
class PlanHistory:
    periods: tuple[PlanPeriod, ...]  # in billing's order: effective time, then event id
    opening_plan_id: str  # the account row's plan: the answer when no period is stored

    def in_force(self, at: datetime) -> str:
        started = [period for period in self._timeline() if period.effective_at <= at]
        if started:
            return started[-1].plan_id
        timeline = self._timeline()
        return timeline[0].plan_id if timeline else self.opening_plan_id

    def pending(self, at: datetime) -> PlanPeriod | None:
        """The first period after ``at`` that moves the account to another plan."""
        current = self.in_force(at)
        for period in self._timeline():
            if period.effective_at > at:
                if period.plan_id != current:
                    return period
                current = period.plan_id
        return None

    def status(self, at: datetime) -> PlanStatus:
        return PlanStatus(self.in_force(at), at, self.pending(at))

    def replaced_by(self, effective_at: datetime) -> tuple[PlanPeriod, ...]:
        """The periods a change taking effect at ``effective_at`` replaces: those starting then or later."""
        return tuple(period for period in self.periods if period.effective_at >= effective_at)

    def changes_nothing(self, plan_id: str, effective_at: datetime) -> bool:
        """True when the account is on ``plan_id`` from ``effective_at`` on already, with no other change to come:
        storing the change would leave every instant's plan as it is."""
        return self.in_force(effective_at) == plan_id and all(
            period.plan_id == plan_id for period in self._timeline() if period.effective_at > effective_at
        )

    def _timeline(self) -> list[PlanPeriod]:
        # Periods starting at the same instant: the last in billing's order is the one billed.
        by_start: dict[datetime, PlanPeriod] = {}
        for period in self.periods:
            by_start[period.effective_at] = period
        return sorted(by_start.values(), key=lambda period: period.effective_at)
