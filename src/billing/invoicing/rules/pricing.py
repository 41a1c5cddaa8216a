"""Pricing: a quantity's billable units, and a cycle's total units of one service in money.

Design rule: per event the rating (src/billing/usage/rules/rating.py ``rate_one``) only rounds the quantity
up to the plan's charging increment (``billable_units``) and records which plan version was in force.
Allowances, tiers and minimum charges are applied once per cycle to the SUM of billable units per
(plan, version, service) in ``price_service``. Summation is order-free, so the invoice cannot depend on the
order in which events arrive or on how they are batched, and re-rating a batch can never move units across a
tier boundary twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from billing.invoicing.rules.catalog import RatingIncrement, ServiceKind, ServiceRate
from billing.money import round_minor


class RatingError(ValueError):
    """A quantity that cannot be priced (a negative quantity or total)."""


class UsageKey(NamedTuple):
    """What usage is grouped and priced by; a plain (plan_id, version, service)."""

    plan_id: str
    plan_version: int
    service: ServiceKind


@dataclass(frozen=True)
class TierCharge:
    tier_number: int  # 1-based, as printed on the invoice
    units: int
    unit_price: Decimal
    amount_minor: int


@dataclass(frozen=True)
class ServiceCharge:
    total_units: int
    included_units_used: int
    tier_charges: tuple[TierCharge, ...]
    minimum_top_up_minor: int

    @property
    def chargeable_units(self) -> int:
        return self.total_units - self.included_units_used

    @property
    def tiers_minor(self) -> int:
        return sum(charge.amount_minor for charge in self.tier_charges)

    @property
    def total_minor(self) -> int:
        return self.tiers_minor + self.minimum_top_up_minor


def billable_units(quantity: int, increment: RatingIncrement) -> int:
    """Round ``quantity`` up to the charging increment.

    With 60/1 a call of 1..60 s bills 60 s and 61 s bills 61 s; with 60/60
    61 s bills 120 s. A quantity of 0 bills 0: a zero-length call (an
    unanswered or failed attempt) or an empty data session consumed nothing,
    and the first block is a minimum per *use*, not a fee for trying.
    """
    if quantity < 0:
        raise RatingError(f"quantity must not be negative, got {quantity}")
    if quantity == 0:
        return 0
    beyond_first_block = max(0, quantity - increment.first)
    started_steps = -(-beyond_first_block // increment.then)  # ceiling division
    return increment.first + started_steps * increment.then


def _units_per_tier(chargeable_units: int, rate: ServiceRate) -> list[int]:
    """Graduated split: each tier takes only the units between its bounds."""
    # Every tier but the last is bounded (ServiceRate checks it), so the filter only tells mypy so.
    bounded_uppers = [tier.up_to_units for tier in rate.tiers[:-1] if tier.up_to_units is not None]
    lowers = [0, *bounded_uppers]
    uppers = [*bounded_uppers, chargeable_units]  # the last tier is open-ended
    return [max(0, min(chargeable_units, upper) - lower) for lower, upper in zip(lowers, uppers)]


def _minimum_top_up(rate: ServiceRate, chargeable_units: int, tiers_minor: int) -> int:
    """Amount needed to lift the tier charges to the service's minimum charge.

    The minimum applies only when there is usage beyond the allowance: units
    inside the allowance are already paid for by the recurring fee, so a
    customer who stayed within it must not be charged a usage minimum.
    """
    if chargeable_units == 0:
        return 0
    return max(0, rate.minimum_charge_minor - tiers_minor)


def price_service(rate: ServiceRate, total_billable_units: int) -> ServiceCharge:
    """Price a cycle's total billable units of one service under one plan.

    Allowance first, then graduated tiers over the remaining units; each
    tier line is rounded on its own (it is a printed invoice line), then the
    sum is raised to the minimum charge if there was chargeable usage.
    """
    if total_billable_units < 0:
        raise RatingError(f"total billable units must be >= 0, got {total_billable_units}")
    included_used = min(total_billable_units, rate.included_units)
    chargeable = total_billable_units - included_used
    tier_charges = tuple(
        TierCharge(number, units, tier.unit_price, round_minor(units * tier.unit_price))
        for number, (tier, units) in enumerate(zip(rate.tiers, _units_per_tier(chargeable, rate)), start=1)
        if units > 0
    )
    tiers_minor = sum(charge.amount_minor for charge in tier_charges)
    return ServiceCharge(
        total_units=total_billable_units,
        included_units_used=included_used,
        tier_charges=tier_charges,
        minimum_top_up_minor=_minimum_top_up(rate, chargeable, tiers_minor),
    )
