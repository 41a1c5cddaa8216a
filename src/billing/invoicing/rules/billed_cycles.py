"""The plan advisor's inputs rebuilt from what the closer stored: each issued invoice's ``InvoiceInput`` exactly as
the closer built it, and the open cycle's as the preview builds it, through the closer's own assembly
(``inputs.invoice_input``), so the advisor's figure for the plan billed is the invoice's total.

The closer priced each cycle from rows that have moved on since (billed units, grants' applied amounts); this
module puts those rows back as they stood when the invoice was issued, from the invoices themselves:
- the cycle's own units per (plan, version, service) are the units on its usage lines (allowance and tiers);
- late units billed on it are its adjustment lines' units, on top of what the late cycle's invoice and the
  adjustments issued before this one had already billed for the same plan version and service;
- a grant had taken what the applications on invoices of earlier cycles took.
Everything else (plan changes, the catalog's versions, tax) is what the closer reads anyway.

Pure: the shell (src/billing/invoicing/advisor_inputs.py) reads the rows in one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from billing.invoicing.rules import inputs
from billing.invoicing.rules.close_model import DueAccount, GrantRow, PlanChange, UsageRow
from billing.invoicing.rules.plan_advisor import BilledCycle, CycleSoFar

UsageKeyRow = tuple[date, str, int, str]  # (cycle start, plan id, plan version, service)


@dataclass(frozen=True)
class StoredInvoice:
    """An invoice row of ours (issued or held), with its wire lines."""

    invoice_id: str
    period_start: date
    period_end: date
    status: str
    total_minor: int
    issued_at: datetime | None
    lines: tuple[dict[str, Any], ...]

    @property
    def is_cycle(self) -> bool:
        """A cycle's invoice (it bills a fee); a closed account's final adjustment bills late usage only."""
        return any(str(line.get("line_id", "")).startswith("recurring:") for line in self.lines)


@dataclass(frozen=True)
class StoredGrant:
    row: GrantRow  # applied_minor / applied_count: over every invoice so far
    applications: tuple[tuple[str, int], ...]  # (invoice id, amount applied)


@dataclass(frozen=True)
class AdvisorRows:
    """One account's rows, as the shell read them."""

    account: DueAccount  # cycle_start / cycle_end: the open cycle, when has_open_cycle
    has_open_cycle: bool  # False once the final invoice is out: nothing is left to bill
    changes: tuple[PlanChange, ...]
    invoices: tuple[StoredInvoice, ...]  # oldest first
    grants: tuple[StoredGrant, ...]
    open_usage: tuple[UsageRow, ...]  # the open cycle's rows and earlier rows not billed yet


def billed_cycles(calendar: inputs.PlanCalendar, rows: AdvisorRows, last: int) -> list[BilledCycle]:
    """The account's last ``last`` issued cycle invoices as the closer priced them, oldest first."""
    issued = [invoice for invoice in rows.invoices if invoice.status == "issued" and invoice.is_cycle]
    return [_billed(calendar, rows, invoice) for invoice in issued[-last:]] if last > 0 else []


def open_cycle(calendar: inputs.PlanCalendar, rows: AdvisorRows, as_of: datetime) -> CycleSoFar | None:
    """The open cycle so far, priced as if it closed at ``as_of`` (what ``preview.open_cycle`` builds)."""
    account = rows.account
    if not rows.has_open_cycle:
        return None
    period = inputs.billing_period(account)
    if period is None or period.adjustment:
        return None
    invoice = inputs.invoice_input(
        calendar, account, period, rows.changes, rows.open_usage, [grant.row for grant in rows.grants], as_of
    )
    return CycleSoFar(invoice, as_of.date())


def _billed(calendar: inputs.PlanCalendar, rows: AdvisorRows, invoice: StoredInvoice) -> BilledCycle:
    account = replace(rows.account, cycle_start=invoice.period_start, cycle_end=invoice.period_end)
    period = inputs.billing_period(account)
    if period is None:  # the stored period is a cycle's: a period is always found for it
        raise ValueError(f"invoice {invoice.invoice_id} covers no billing period")
    issued_at = invoice.issued_at
    assert issued_at is not None, "an issued invoice has its issue time"
    earlier = [other for other in rows.invoices if other.period_start < invoice.period_start]
    usage = _usage_as_billed(rows.account.account_id, invoice, earlier)
    grants = [_grant_before(grant, {other.invoice_id for other in earlier}) for grant in rows.grants]
    built = inputs.invoice_input(calendar, account, period, rows.changes, usage, grants, issued_at)
    return BilledCycle(built, invoice.total_minor)


def _usage_as_billed(account_id: str, invoice: StoredInvoice, earlier: Sequence[StoredInvoice]) -> list[UsageRow]:
    """Usage rows as they stood when ``invoice`` was closed: its own units, and each late row's units billed
    before it (billed_units) plus those it billed (billable_units)."""
    rows: list[UsageRow] = [
        UsageRow(None, account_id, invoice.period_start, plan_id, version, service, units, 0)
        for (plan_id, version, service), units in _cycle_units(invoice).items()
    ]
    for (late_start, plan_id, version, service), units in _late_units(invoice).items():
        before = sum(
            _cycle_units(other).get((plan_id, version, service), 0)
            for other in earlier
            if other.period_start == late_start
        ) + sum(_late_units(other).get((late_start, plan_id, version, service), 0) for other in earlier)
        rows.append(UsageRow(None, account_id, late_start, plan_id, version, service, before + units, before))
    return rows


def _cycle_units(invoice: StoredInvoice) -> dict[tuple[str, int, str], int]:
    """Units per (plan, version, service) on the usage lines: ``usage:<plan>:v<n>:<service>:<included|tierN>``."""
    found: dict[tuple[str, int, str], int] = defaultdict(int)
    for line in invoice.lines:
        line_id = str(line.get("line_id", ""))
        if not line_id.startswith("usage:") or line_id.endswith(":minimum"):
            continue
        plan_id, version, service, _what = line_id.removeprefix("usage:").rsplit(":", 3)
        found[(plan_id, int(version.removeprefix("v")), service)] += int(line.get("quantity") or 0)
    return found


def _late_units(invoice: StoredInvoice) -> dict[UsageKeyRow, int]:
    """Late units per earlier cycle and plan version: ``adjustment:<cycle start>:<plan>:v<n>:<service>``."""
    found: dict[UsageKeyRow, int] = defaultdict(int)
    for line in invoice.lines:
        line_id = str(line.get("line_id", ""))
        if not line_id.startswith("adjustment:"):
            continue
        start, rest = line_id.removeprefix("adjustment:").split(":", 1)
        plan_id, version, service = rest.rsplit(":", 2)
        key = (date.fromisoformat(start), plan_id, int(version.removeprefix("v")), service)
        found[key] += int(line.get("quantity") or 0)
    return found


def _grant_before(grant: StoredGrant, earlier_ids: set[str]) -> GrantRow:
    """The grant as the closer read it: applied on the invoices of earlier cycles only."""
    taken = [amount for invoice_id, amount in grant.applications if invoice_id in earlier_ids]
    return replace(grant.row, applied_minor=sum(taken), applied_count=len(taken))
