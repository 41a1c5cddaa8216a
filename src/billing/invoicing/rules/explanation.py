"""Why a bill changed: an invoice's total against the account's previous invoice, split into causes.

The causes add up EXACTLY to the change of the total, to the minor unit:
- every charge and discount line of the two invoices falls into one pre-tax cause (``explanation_lines.py``), so
  the pre-tax causes add up to the change of the taxable amount by construction;
- each pre-tax cause carries its share of tax at this invoice's rate, rounded as the tax line is
  (``money.percent_of``); a change of the rate is its own cause (the previous taxable amount at the new rate,
  less the previous tax);
- the tax is rounded once per invoice, so the shares may miss the tax's change by a few minor units: that
  residue is its own cause (TAX_ROUNDING), never dropped;
- credits are used after tax, so they carry no tax.
A first invoice (no previous one) is explained by its parts: its fee, usage per service, discounts, the tax
(one TAX cause, not spread) and credits.

Pure: the invoices are the drafts the closer builds (``calculation.build_invoice``); the day an allowance ran
out needs the cycle's usage per day, which only the caller can read (usage_events by started_at).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from billing.invoicing.rules.catalog import ServiceKind
from billing.invoicing.rules.explanation_lines import fee_causes, grant_causes, late_causes, usage_causes
from billing.invoicing.rules.explanation_model import KIND_ORDER, Cause, CauseKind, Explanation, ExplanationError
from billing.invoicing.rules.invoice_model import InvoiceDraft, LineKind
from billing.money import percent_of

DailyUsage = Mapping[ServiceKind, Sequence[tuple[date, int]]]

__all__ = ["Cause", "CauseKind", "DailyUsage", "Explanation", "ExplanationError", "exhausted_on", "explain_invoice"]


def explain_invoice(
    invoice: InvoiceDraft, previous: InvoiceDraft | None, daily_usage: DailyUsage | None = None
) -> Explanation:
    """The change of ``invoice``'s total against ``previous`` (the account's invoice before it, or None for its
    first), as causes largest first. ``daily_usage``: this invoice's cycle's billable units per service and day,
    to name the day an allowance ran out; without it the causes are the same, only without that day."""
    rate = _rate(invoice)
    if previous is not None and previous.currency != invoice.currency:
        raise ExplanationError(f"cannot compare a {invoice.currency} invoice with a {previous.currency} one")
    pre_tax = (
        fee_causes(invoice, previous)
        + usage_causes(invoice, previous)
        + late_causes(invoice, previous)
        + grant_causes(invoice, previous, LineKind.DISCOUNT)
    )
    exhausted = exhaustion_days(invoice, daily_usage or {})
    pre_tax = [_with_day(cause, exhausted) for cause in _merged(pre_tax)]
    causes = _taxed(invoice, previous, rate, pre_tax) + grant_causes(invoice, previous, LineKind.CREDIT)
    return Explanation(
        currency=invoice.currency,
        total_minor=invoice.total_minor,
        previous_total_minor=None if previous is None else previous.total_minor,
        causes=tuple(sorted((cause for cause in causes if cause.amount_minor), key=_largest_first)),
        allowance_exhausted_on=exhausted,
    )


def _rate(draft: InvoiceDraft) -> int | Decimal:
    if draft.tax_rate_bp is None:
        raise ExplanationError(f"invoice of {draft.cycle} does not say its tax rate")
    return draft.tax_rate_bp


def _taxed(
    invoice: InvoiceDraft, previous: InvoiceDraft | None, rate: int | Decimal, causes: list[Cause]
) -> list[Cause]:
    """The pre-tax causes with their tax shares, plus the tax causes that make the tax's change exact."""
    if previous is None:
        return [*causes, Cause(CauseKind.TAX, invoice.tax_minor, 0, invoice.tax_minor, f"tax {_percent(rate)} %")]
    shared = [_with_tax(cause, percent_of(cause.net_minor, rate)) for cause in causes]
    old_rate = _rate(previous)
    previous_taxable = previous.subtotal_minor + previous.discount_minor
    rate_effect = percent_of(previous_taxable, rate) - previous.tax_minor if old_rate != rate else 0
    residue = invoice.tax_minor - previous.tax_minor - rate_effect - sum(cause.tax_minor for cause in shared)
    return [
        *shared,
        Cause(
            CauseKind.TAX_RATE_CHANGE,
            rate_effect,
            0,
            rate_effect,
            f"tax rate {_percent(old_rate)} % -> {_percent(rate)} %",
        ),
        Cause(CauseKind.TAX_ROUNDING, residue, 0, residue, "tax is rounded once on the whole invoice"),
    ]


def _percent(basis_points: int | Decimal) -> str:
    return f"{Decimal(basis_points).scaleb(-2).normalize():f}"


def _with_tax(cause: Cause, tax_minor: int) -> Cause:
    return replace(cause, tax_minor=tax_minor, amount_minor=cause.net_minor + tax_minor)


def _merged(causes: list[Cause]) -> list[Cause]:
    """One cause per kind and subject: a service's usage over all its tiers and plan versions is one cause."""
    merged: dict[tuple[object, ...], Cause] = {}
    for cause in causes:
        key = (cause.kind, cause.service, cause.tier, cause.grant_id, cause.plan, cause.previous_plan)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = cause
            continue
        units = None if earlier.units_change is None else earlier.units_change + (cause.units_change or 0)
        merged[key] = replace(
            earlier,
            amount_minor=earlier.amount_minor + cause.amount_minor,
            net_minor=earlier.net_minor + cause.net_minor,
            units_change=units,
        )
    return list(merged.values())


def _largest_first(cause: Cause) -> tuple[object, ...]:
    return (-abs(cause.amount_minor), KIND_ORDER[cause.kind], cause.service or "", cause.tier or 0, cause.detail)


def exhausted_on(daily: Sequence[tuple[date, int]], allowance_units: int) -> date | None:
    """The first day on which the cycle's cumulative usage went beyond ``allowance_units``."""
    used = 0
    for day, units in sorted(daily):
        used += units
        if used > allowance_units:
            return day
    return None


def exhaustion_days(invoice: InvoiceDraft, daily_usage: DailyUsage) -> dict[ServiceKind, date]:
    """Services whose allowance ran out in this invoice's cycle, with the day. The allowance is the units the
    included lines used (all of it, since there was usage beyond it): over several plan versions, their sum."""
    allowance: dict[ServiceKind, int] = {}
    beyond: set[ServiceKind] = set()
    for line in invoice.lines:
        if line.service is None:
            continue
        if line.kind is LineKind.INCLUDED:
            allowance[line.service] = allowance.get(line.service, 0) + (line.units or 0)
        elif line.kind is LineKind.USAGE and line.units:
            beyond.add(line.service)
    days = {}
    for service in beyond & set(allowance) & set(daily_usage):
        day = exhausted_on(daily_usage[service], allowance[service])
        if day is not None:
            days[service] = day
    return days


def _with_day(cause: Cause, days: Mapping[ServiceKind, date]) -> Cause:
    if cause.kind is CauseKind.ALLOWANCE_EXHAUSTED and cause.service is not None and cause.amount_minor > 0:
        day = days.get(cause.service)
        return cause if day is None else replace(cause, day=day)
    return cause
