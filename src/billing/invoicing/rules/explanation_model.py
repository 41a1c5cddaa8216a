"""What a bill explanation is made of: causes with amounts that add up exactly to the change of the total.

Kept apart from the splitting (``explanation.py``, ``explanation_lines.py``) so a reader (the account view, the
CLI, the invoice document) imports only these records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from billing.invoicing.rules.catalog import ServiceKind


class ExplanationError(ValueError):
    """Two invoices that cannot be compared (another currency, no tax rate known)."""


class CauseKind(StrEnum):
    RECURRING_FEE = "recurring_fee"  # first invoice: the plan's fee for the cycle
    PLAN_CHANGE = "plan_change"  # another plan: its fee, or its usage prices
    PRICE_CHANGE = "price_change"  # the same plan, another price version
    PRORATION = "proration"  # part of a cycle on a plan (opening, closing, mid-cycle change)
    USAGE = "usage"  # more or less usage of a service, at the same prices
    ALLOWANCE_EXHAUSTED = "allowance_exhausted"  # usage went beyond the allowance (negative: back within it)
    TIER_CROSSED = "tier_crossed"  # usage reached a further tier (negative: no longer reaches it)
    MINIMUM_CHARGE = "minimum_charge"  # the top-up to a service's minimum charge
    LATE_USAGE = "late_usage"  # usage of an earlier cycle billed on this invoice
    DISCOUNT_STARTED = "discount_started"
    DISCOUNT_ENDED = "discount_ended"
    DISCOUNT_CHANGED = "discount_changed"  # a running discount taking more or less (a percent of another subtotal)
    CREDIT = "credit"  # account credit used after tax
    TAX = "tax"  # first invoice: the tax line
    TAX_RATE_CHANGE = "tax_rate_change"
    TAX_ROUNDING = "tax_rounding"  # what rounding the tax once per invoice leaves over the causes' tax shares


# Ties in amount are ordered by kind, in the order a bill reads.
KIND_ORDER: Mapping[CauseKind, int] = MappingProxyType({kind: position for position, kind in enumerate(CauseKind)})


@dataclass(frozen=True)
class Cause:
    """One reason the total changed. ``amount_minor`` is what it adds to the total (negative: what it saves),
    tax included: ``net_minor`` before tax plus ``tax_minor``, its share of the tax at this invoice's rate."""

    kind: CauseKind
    amount_minor: int
    net_minor: int
    tax_minor: int
    detail: str
    service: ServiceKind | None = None
    tier: int | None = None  # TIER_CROSSED: the tier reached (1-based, as printed)
    grant_id: str | None = None  # discounts and credits
    plan: str | None = None  # "plan_id:vN" now (PLAN_CHANGE, PRICE_CHANGE, RECURRING_FEE, PRORATION)
    previous_plan: str | None = None
    units_change: int | None = None  # USAGE, ALLOWANCE_EXHAUSTED, TIER_CROSSED: billable units more (or fewer)
    day: date | None = None  # ALLOWANCE_EXHAUSTED: the day usage went beyond the allowance, when known

    def __post_init__(self) -> None:
        if self.amount_minor != self.net_minor + self.tax_minor:
            raise ExplanationError(f"{self.kind}: {self.net_minor} + {self.tax_minor} != {self.amount_minor}")


@dataclass(frozen=True)
class Explanation:
    """An invoice's total against the previous invoice's (None: the first invoice, explained by its parts)."""

    currency: str
    total_minor: int
    previous_total_minor: int | None
    causes: tuple[Cause, ...]  # largest amount first (by absolute value)
    allowance_exhausted_on: Mapping[ServiceKind, date] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowance_exhausted_on", MappingProxyType(dict(self.allowance_exhausted_on)))
        explained = sum(cause.amount_minor for cause in self.causes)
        if explained != self.change_minor:
            raise ExplanationError(f"causes add up to {explained}, the total changed by {self.change_minor}")

    @property
    def change_minor(self) -> int:
        return self.total_minor - (self.previous_total_minor or 0)

    @property
    def is_first(self) -> bool:
        return self.previous_total_minor is None
