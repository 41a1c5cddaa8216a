"""Building an invoice draft for one account and one cycle.

Everything is billed in arrears at cycle close: the recurring fee of each
plan version is prorated by the days the account spent on it, and usage is
priced per (plan, version, service) from the cycle's summed billable units.
Allowances are prorated by the same days as the fee, so a mid-cycle plan
change neither doubles nor loses an allowance. Late usage of an earlier
cycle is billed as the price difference it makes to that cycle, with that
cycle's prorated allowance, on a line naming the cycle.

Line ids are deterministic so a re-run produces the same lines:
``recurring:mobile-s:v2``, ``usage:mobile-s:v2:voice:tier1``,
``usage:mobile-s:v2:voice:included``, ``usage:mobile-s:v2:voice:minimum``,
``adjustment:2026-10-01:mobile-s:v1:voice``, ``discount:<grant_id>``,
``tax``, ``credit:<grant_id>``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import lru_cache

from billing.invoicing.rules.adjustments import (
    GrantApplication,
    apply_credits,
    apply_discounts,
    carry_forward,
    check_unique_grants,
)
from billing.invoicing.rules.catalog import PricePlan, ServiceKind, ServiceRate
from billing.invoicing.rules.invoice_model import (
    InvoiceDraft,
    InvoiceError,
    InvoiceInput,
    InvoiceLine,
    LateUsage,
    LineKind,
)
from billing.invoicing.rules.pricing import ServiceCharge, UsageKey, price_service
from billing.money import percent_of, prorate

PlanKey = tuple[str, int]
_SERVICE_ORDER = {service: position for position, service in enumerate(ServiceKind)}


def _check_segments(invoice: InvoiceInput) -> None:
    segments, cycle = invoice.plan_segments, invoice.cycle
    if not segments:
        raise InvoiceError("an invoice needs at least one plan segment")
    if segments[0].start != cycle.start:
        raise InvoiceError(f"first plan segment must start on {cycle.start}")
    for earlier, later in itertools.pairwise(segments):
        if earlier.end != later.start:
            raise InvoiceError(f"plan segments leave a gap or overlap at {earlier.end}")
    last_end = segments[-1].end
    # A final invoice stops at the close date; a regular one covers the cycle.
    allowed_end = last_end <= cycle.end if invoice.is_final else last_end == cycle.end
    if not allowed_end:
        raise InvoiceError(f"plan segments end on {last_end}, cycle ends on {cycle.end}")


def _check_input(invoice: InvoiceInput) -> None:
    _check_segments(invoice)
    plans = [segment.plan for segment in invoice.plan_segments]
    plans += [late.plan for late in invoice.late_usage] + list(invoice.usage_only_plans)
    foreign = {plan.label for plan in plans if plan.currency != invoice.currency}
    if foreign:
        raise InvoiceError(f"plans {sorted(foreign)} are not priced in {invoice.currency}")
    for late in invoice.late_usage:
        # Starts, not ends: a closed account's final adjustment begins the day after its closing, inside the
        # final cycle whose late usage it bills.
        if late.period.start >= invoice.cycle.start:
            raise InvoiceError(f"late usage period {late.period} is not before this cycle")
    check_unique_grants(invoice.adjustments)


def _days_per_plan_version(invoice: InvoiceInput) -> dict[PlanKey, tuple[PricePlan, int]]:
    """Days on each plan version, in the order the versions first appear."""
    days: dict[PlanKey, tuple[PricePlan, int]] = {}
    for segment in invoice.plan_segments:
        key = (segment.plan.plan_id, segment.plan.version)
        plan, days_so_far = days.get(key, (segment.plan, 0))
        if plan != segment.plan:
            raise InvoiceError(f"two different definitions of plan {plan.label}")
        days[key] = (plan, days_so_far + segment.days)
    for plan in invoice.usage_only_plans:  # no day of the cycle: no fee, no allowance, its usage at its rates
        days.setdefault((plan.plan_id, plan.version), (plan, 0))
    return days


def _recurring_lines(invoice: InvoiceInput, versions: Mapping[PlanKey, tuple[PricePlan, int]]) -> list[InvoiceLine]:
    cycle_days = invoice.cycle.days
    return [
        InvoiceLine(
            line_id=f"recurring:{plan.label}",
            kind=LineKind.RECURRING,
            description=f"{plan.plan_id} v{plan.version} fee, {days} of {cycle_days} days",
            amount_minor=prorate(plan.recurring_fee_minor, days, cycle_days),
            units=days,
            plan_id=plan.plan_id,
            plan_version=plan.version,
            full_fee_minor=plan.recurring_fee_minor,
        )
        for plan, days in versions.values()
        if days
    ]


def _charge_lines(
    prefix: str, charge: ServiceCharge, plan: PricePlan, key: UsageKey, allowance: int
) -> list[InvoiceLine]:
    """Printed lines of one priced service; used allowance shows at zero cost."""
    lines = []
    unit = plan.rate_for(key.service).unit
    if charge.included_units_used:
        lines.append(
            InvoiceLine(
                f"{prefix}:included",
                LineKind.INCLUDED,
                "included in plan",
                0,
                units=charge.included_units_used,
                allowance_units=allowance,
                service=key.service,
                plan_id=plan.plan_id,
                plan_version=plan.version,
                unit=unit,
            )
        )
    bands = _tier_bands(plan.rate_for(key.service))
    lines += [
        InvoiceLine(
            f"{prefix}:tier{tier.tier_number}",
            LineKind.USAGE,
            f"tier {tier.tier_number}",
            tier.amount_minor,
            units=tier.units,
            unit_price=tier.unit_price,
            service=key.service,
            plan_id=plan.plan_id,
            plan_version=plan.version,
            unit=unit,
            tier=tier.tier_number,
            tier_from_units=bands[tier.tier_number - 1][0],
            tier_up_to_units=bands[tier.tier_number - 1][1],
        )
        for tier in charge.tier_charges
    ]
    if charge.minimum_top_up_minor:
        lines.append(
            InvoiceLine(
                f"{prefix}:minimum",
                LineKind.MINIMUM,
                "top-up to the minimum charge",
                charge.minimum_top_up_minor,
                service=key.service,
                plan_id=plan.plan_id,
                plan_version=plan.version,
            )
        )
    return lines


def _tier_bands(rate: ServiceRate) -> list[tuple[int, int | None]]:
    """(from, up to) units beyond the allowance of each tier, as the customer reads the price list."""
    lowers = [0, *(tier.up_to_units or 0 for tier in rate.tiers[:-1])]  # only the last tier is open
    return [(lower, tier.up_to_units) for lower, tier in zip(lowers, rate.tiers)]


def _usage_lines(invoice: InvoiceInput, versions: Mapping[PlanKey, tuple[PricePlan, int]]) -> list[InvoiceLine]:
    version_order = {key: position for position, key in enumerate(versions)}
    unknown = [key for key in invoice.usage_totals if key[:2] not in versions]
    if unknown:
        raise InvoiceError(f"usage rated under plans not on this invoice: {unknown}")
    ordered = sorted(
        invoice.usage_totals.items(),
        key=lambda item: (version_order[item[0][:2]], _SERVICE_ORDER[item[0].service]),
    )
    lines: list[InvoiceLine] = []
    for key, units in ordered:
        plan, days = versions[key[:2]]
        rate = _rate(plan, key, days, invoice.cycle.days)
        lines += _charge_lines(
            f"usage:{plan.label}:{key.service}", price_service(rate, units), plan, key, rate.included_units
        )
    return lines


def _rate(plan: PricePlan, key: UsageKey, days: int, cycle_days: int) -> ServiceRate:
    rate = plan.rate_for(key.service)
    if days != cycle_days:  # most invoices cover a whole cycle under one plan version: nothing to prorate
        rate = _prorated_rate(rate, days, cycle_days)
    return rate


def _price_prorated(plan: PricePlan, key: UsageKey, units: int, days: int, cycle_days: int) -> ServiceCharge:
    return price_service(_rate(plan, key, days, cycle_days), units)


@lru_cache(maxsize=4096)
def _prorated_rate(rate: ServiceRate, days: int, cycle_days: int) -> ServiceRate:
    """The rate with its allowance prorated; cached because a cycle close prices the same few (rate, days)
    pairs for many accounts, and building a rate validates its tiers again."""
    return replace(rate, included_units=prorate(rate.included_units, days, cycle_days))


def _late_usage_line(late: LateUsage) -> InvoiceLine:
    """The price difference the late units make to their own cycle, priced as that cycle's invoice priced its
    usage: the plan version they were rated under, its allowance prorated by its days in that cycle."""
    days = late.period.days if late.days_on_plan is None else late.days_on_plan
    key = UsageKey(late.plan.plan_id, late.plan.version, late.service)
    already_billed = _price_prorated(late.plan, key, late.previously_billed_units, days, late.period.days)
    with_late = _price_prorated(late.plan, key, late.previously_billed_units + late.units, days, late.period.days)
    period = late.period
    return InvoiceLine(
        line_id=f"adjustment:{period.start.isoformat()}:{late.plan.label}:{late.service}",
        kind=LineKind.LATE_USAGE,
        description=f"late {late.service} usage of the cycle starting {period.start}",
        amount_minor=with_late.total_minor - already_billed.total_minor,
        units=late.units,
        period=period,
        service=late.service,
        plan_id=late.plan.plan_id,
        plan_version=late.plan.version,
        unit=late.plan.rate_for(late.service).unit,
    )


def _grant_lines(applications: Iterable[GrantApplication], kind: LineKind) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            line_id=f"{kind}:{application.adjustment.grant_id}",
            kind=kind,
            description=f"{application.adjustment.kind} grant {application.adjustment.grant_id}",
            amount_minor=-application.applied_minor,
            percent_bp=application.adjustment.percent_bp,
        )
        for application in applications
    ]


def _percent(basis_points: int | Decimal) -> str:
    """1900 -> "19", 1497.5 -> "14.975": the rate as printed on a bill."""
    return f"{Decimal(basis_points).scaleb(-2).normalize():f}"


def _total(lines: Iterable[InvoiceLine]) -> int:
    return sum(line.amount_minor for line in lines)


def build_invoice(invoice: InvoiceInput) -> InvoiceDraft:
    """Price one cycle: charges, then discounts, then tax, then credits."""
    _check_input(invoice)
    versions = _days_per_plan_version(invoice)
    charges = (
        _recurring_lines(invoice, versions)
        + _usage_lines(invoice, versions)
        + [_late_usage_line(late) for late in invoice.late_usage]
    )
    subtotal = _total(charges)
    discounts = apply_discounts(subtotal, invoice.adjustments)
    discount_lines = _grant_lines(discounts, LineKind.DISCOUNT)
    taxable = subtotal + _total(discount_lines)
    tax = percent_of(taxable, invoice.tax_rate_bp)
    tax_line = InvoiceLine("tax", LineKind.TAX, f"tax {_percent(invoice.tax_rate_bp)} %", tax)
    credits = apply_credits(taxable + tax, invoice.adjustments)
    credit_lines = _grant_lines(credits, LineKind.CREDIT)
    return InvoiceDraft(
        account_id=invoice.account_id,
        currency=invoice.currency,
        cycle=invoice.cycle,
        is_final=invoice.is_final,
        lines=(*charges, *discount_lines, tax_line, *credit_lines),
        subtotal_minor=subtotal,
        discount_minor=_total(discount_lines),
        tax_minor=tax,
        credit_minor=_total(credit_lines),
        total_minor=taxable + tax + _total(credit_lines),
        carry_forward=carry_forward([*discounts, *credits]),
        tax_rate_bp=invoice.tax_rate_bp,
    )
