"""Rate a batch of usage against its accounts: pure, so the checks and the rating are testable without I/O.

Each record ends in one of three places:
- rated: plan version in force at its start time, its cycle, its billable units after the rating increment;
- refused (dead-lettered) with the rule that refused it;
- parked, when its account is not known yet (account.opened travels on another topic and may arrive later).
A call belongs to the cycle in which it started (`started_at`), the usual telecom convention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streams.billing.catalog import Catalog, CatalogError, ServiceKind
from streams.billing.cycles import cycle_for
from streams.billing.rating import RatingError, billable_units
from streams.usage_fastpath import Usage

# Largest quantity one record may carry; beyond it a record is far likelier a mediation fault than real use.
SANITY_LIMITS: Mapping[str, int] = {"voice": 86_400, "sms": 1_000, "data": 1 << 40}


@dataclass(frozen=True)
class AccountView:
    account_id: str
    anchor_day: int
    opened_at: datetime
    closed_at: datetime | None
    plan_periods: tuple[tuple[datetime, str], ...]  # (effective_at, plan_id), ascending

    def plan_at(self, at: datetime) -> str | None:
        current = None
        for effective_at, plan_id in self.plan_periods:
            if effective_at > at:
                break
            current = plan_id
        return current


@dataclass(frozen=True)
class RatingLimits:
    now: datetime
    max_future_skew: timedelta
    close_grace: timedelta
    late_limit: timedelta


@dataclass(frozen=True)
class RatedRow:
    usage: Usage
    billable_units: int
    plan_id: str
    plan_version: int
    cycle_start: object  # datetime.date


@dataclass
class RatingOutcome:
    rated: list[tuple[int, RatedRow]] = field(default_factory=list)  # (index in batch, row)
    refused: list[tuple[int, str]] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)


def rate_batch(
    usages: Sequence[Usage], accounts: Mapping[str, AccountView], catalog: Catalog, limits: RatingLimits
) -> RatingOutcome:
    outcome = RatingOutcome()
    for index, usage in enumerate(usages):
        account = accounts.get(usage.account_id)
        if account is None:
            outcome.parked.append(index)
            continue
        result = rate_one(usage, account, catalog, limits)
        if isinstance(result, str):
            outcome.refused.append((index, result))
        else:
            outcome.rated.append((index, result))
    return outcome


def rate_one(usage: Usage, account: AccountView, catalog: Catalog, limits: RatingLimits) -> RatedRow | str:
    refusal = _refusal(usage, account, limits)
    if refusal:
        return refusal
    plan_id = account.plan_at(usage.started_at)
    try:
        plan = catalog.plan_in_force(plan_id, usage.started_at)
        rate = plan.rate_for(ServiceKind(usage.service))
        units = billable_units(usage.quantity, rate.increment)
    except (CatalogError, RatingError) as error:
        return f"cannot rate under plan {plan_id}: {error}"
    cycle = cycle_for(account.anchor_day, usage.started_at)
    too_late = datetime.combine(cycle.end, datetime.min.time(), usage.started_at.tzinfo) + limits.close_grace + limits.late_limit
    if limits.now > too_late:
        return f"usage of cycle {cycle.start} arrived after its late limit ({too_late.isoformat()})"
    return RatedRow(usage, units, plan.plan_id, plan.version, cycle.start)


def _refusal(usage: Usage, account: AccountView, limits: RatingLimits) -> str | None:
    if usage.started_at > limits.now + limits.max_future_skew:
        return f"started_at {usage.started_at.isoformat()} is in the future"
    if usage.started_at < account.opened_at:
        return f"usage at {usage.started_at.isoformat()} precedes the account's opening {account.opened_at.isoformat()}"
    if account.closed_at is not None and usage.started_at > account.closed_at:
        return f"usage at {usage.started_at.isoformat()} follows the account's closing {account.closed_at.isoformat()}"
    limit = SANITY_LIMITS.get(usage.service)
    if limit is not None and usage.quantity > limit:
        return f"quantity {usage.quantity} {usage.unit} exceeds the sanity limit {limit} for one {usage.service} record"
    return None
