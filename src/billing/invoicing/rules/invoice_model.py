"""Inputs and outputs of invoice building (see ``invoicing.build_invoice``).

Sign convention: charges are positive, discounts and credits are negative
lines, and ``InvoiceDraft`` refuses to exist unless its lines add up to its
total and that total is not negative.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from billing.invoicing.rules.catalog import PricePlan, ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.pricing import UsageKey
from billing.money import BASIS_POINTS_PER_WHOLE


class InvoiceError(ValueError):
    """Inputs that cannot produce a correct invoice."""


@dataclass(frozen=True)
class PlanSegment:
    """The plan version an account was on from ``start`` to ``end`` (exclusive)."""

    plan: PricePlan
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvoiceError(f"segment for {self.plan.label} must end after it starts")

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class LateUsage:
    """Units of an earlier, already invoiced cycle that arrived after it closed.

    ``previously_billed_units`` is what that cycle's invoice already priced for the same plan version and
    service; the late units are priced on top of it so the allowance is not granted twice and tiers continue
    where the earlier invoice stopped. ``days_on_plan`` is how many days of ``period`` the account spent on
    this plan version as that cycle's invoice counted them (a mid-cycle plan change, a price-version change,
    a final invoice's partial period): the allowance is prorated by them as it was on that invoice, so late
    units cost exactly what they would have cost on time. None means the whole period.
    """

    period: Cycle
    plan: PricePlan
    service: ServiceKind
    units: int
    previously_billed_units: int
    days_on_plan: int | None = None

    def __post_init__(self) -> None:
        if self.units < 0 or self.previously_billed_units < 0:
            raise InvoiceError("late usage units must not be negative")
        if self.days_on_plan is not None and not 0 < self.days_on_plan <= self.period.days:
            raise InvoiceError(
                f"{self.plan.label} has {self.days_on_plan} days in {self.period};"
                f" late usage needs 1..{self.period.days}"
            )


class AdjustmentKind(StrEnum):
    PERCENT = "percent"  # share of the pre-discount subtotal, before tax
    FIXED = "fixed"  # fixed amount off the subtotal, before tax
    CREDIT = "credit"  # account credit, paid against the total after tax


def _check_percent(adjustment: Adjustment) -> None:
    if adjustment.percent_bp is None or adjustment.amount_minor is not None:
        raise InvoiceError(f"{adjustment.grant_id}: a percent grant needs only percent_bp")
    if not 0 <= adjustment.percent_bp <= BASIS_POINTS_PER_WHOLE:
        raise InvoiceError(f"{adjustment.grant_id}: percent_bp must be within 0..10000")


def _check_amount(adjustment: Adjustment) -> None:
    if adjustment.amount_minor is None or adjustment.percent_bp is not None:
        raise InvoiceError(f"{adjustment.grant_id}: an amount grant needs only amount_minor")
    if adjustment.amount_minor < 0:
        raise InvoiceError(f"{adjustment.grant_id}: amount_minor must not be negative")


_ADJUSTMENT_CHECKS: Mapping[AdjustmentKind, Callable[[Adjustment], None]] = {
    AdjustmentKind.PERCENT: _check_percent,
    AdjustmentKind.FIXED: _check_amount,
    AdjustmentKind.CREDIT: _check_amount,
}


@dataclass(frozen=True)
class Adjustment:
    """A discount or credit grant; amounts are positive, lines will be negative."""

    kind: AdjustmentKind
    grant_id: str
    percent_bp: int | None = None
    amount_minor: int | None = None

    def __post_init__(self) -> None:
        try:
            kind = AdjustmentKind(self.kind)
        except ValueError:
            raise InvoiceError(f"{self.grant_id}: unknown adjustment kind {self.kind!r}") from None
        object.__setattr__(self, "kind", kind)
        _ADJUSTMENT_CHECKS[kind](self)


@dataclass(frozen=True)
class InvoiceInput:
    account_id: str
    currency: str
    cycle: Cycle
    plan_segments: tuple[PlanSegment, ...]
    usage_totals: Mapping[UsageKey, int]
    tax_rate_bp: int | Decimal  # exact; may have a fraction of a basis point (1497.5 = 14.975 %)
    late_usage: tuple[LateUsage, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    # Account closed: segments end at the close date, not at the cycle end.
    is_final: bool = False
    # Plan versions that rated usage in the cycle but hold none of its days. Days are the proration unit (a change
    # during a day gives the whole day to the new plan) while a call is rated under the plan in force when it
    # started: a change during the cycle's first day, or two changes on one day, leave such a plan. Its usage is
    # priced at its rates with no allowance, and it carries no fee.
    usage_only_plans: tuple[PricePlan, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan_segments", tuple(self.plan_segments))
        object.__setattr__(self, "late_usage", tuple(self.late_usage))
        object.__setattr__(self, "adjustments", tuple(self.adjustments))
        object.__setattr__(self, "usage_only_plans", tuple(self.usage_only_plans))
        normalised = {UsageKey(*key): units for key, units in self.usage_totals.items()}
        object.__setattr__(self, "usage_totals", MappingProxyType(normalised))
        if isinstance(self.tax_rate_bp, float):
            raise InvoiceError("tax_rate_bp must be an int or a Decimal, never a float")
        if self.tax_rate_bp < 0:
            raise InvoiceError(f"tax_rate_bp must not be negative, got {self.tax_rate_bp}")


class LineKind(StrEnum):
    RECURRING = "recurring"
    INCLUDED = "included"
    USAGE = "usage"
    MINIMUM = "minimum"
    LATE_USAGE = "late_usage"
    DISCOUNT = "discount"
    TAX = "tax"
    CREDIT = "credit"


@dataclass(frozen=True)
class InvoiceLine:
    line_id: str
    kind: LineKind
    description: str
    amount_minor: int
    units: int | None = None
    unit_price: Decimal | None = None
    period: Cycle | None = None
    # What a reader of the bill (the explanation, the document) needs beyond the amount; None where it does not
    # apply. Set by the calculation, never read by it: they change no amount.
    service: ServiceKind | None = None  # usage, included, minimum and late-usage lines
    plan_id: str | None = None  # recurring, usage and late-usage lines: the plan version that priced the line
    plan_version: int | None = None
    full_fee_minor: int | None = None  # recurring lines: the fee for a whole cycle, before proration
    allowance_units: int | None = None  # included lines: the (prorated) allowance, used or not
    unit: str | None = None  # usage lines: the plan's unit of the service (second, message, byte)
    tier: int | None = None  # usage tier lines: 1-based, and the tier's band in units beyond the allowance
    tier_from_units: int | None = None
    tier_up_to_units: int | None = None  # None on the open last tier
    percent_bp: int | None = None  # percent discount lines: the grant's rate


@dataclass(frozen=True)
class InvoiceDraft:
    account_id: str
    currency: str
    cycle: Cycle
    is_final: bool
    lines: tuple[InvoiceLine, ...]
    subtotal_minor: int  # charges before discounts
    discount_minor: int  # <= 0, reduces the taxable amount
    tax_minor: int
    credit_minor: int  # <= 0, account credit used after tax
    total_minor: int
    carry_forward: Mapping[str, int] = field(default_factory=dict)
    tax_rate_bp: int | Decimal | None = None  # the rate the tax line applied (None: not known to the reader)

    def __post_init__(self) -> None:
        object.__setattr__(self, "carry_forward", MappingProxyType(dict(self.carry_forward)))
        line_sum = sum(line.amount_minor for line in self.lines)
        parts_sum = self.subtotal_minor + self.discount_minor + self.tax_minor + self.credit_minor
        if not line_sum == parts_sum == self.total_minor:
            raise InvoiceError(f"lines sum to {line_sum}, parts to {parts_sum}, total is {self.total_minor}")
        if self.total_minor < 0 or self.discount_minor > 0 or self.credit_minor > 0:
            raise InvoiceError("total must be >= 0; discounts and credits must be <= 0")
        line_ids = [line.line_id for line in self.lines]
        if len(set(line_ids)) != len(line_ids):
            raise InvoiceError(f"duplicate line ids: {line_ids}")
