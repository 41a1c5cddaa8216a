"""Turning an account's rows into the pure core's InvoiceInput, and its draft into one ClosedCycle.

No database here: store.py fetches, this module decides, so every rule below can be tested without
PostgreSQL. Dates are UTC calendar days, as in src/billing/invoicing/rules/cycles.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple

from billing.invoicing.rules.catalog import Catalog, PricePlan, ServiceKind
from billing.invoicing.rules.close_model import Advance, DueAccount, GrantRow, PlanChange, UsageRow
from billing.invoicing.rules.cycles import Cycle, cycle_containing, next_cycle, utc_date
from billing.invoicing.rules.invoice_model import (
    Adjustment,
    AdjustmentKind,
    InvoiceDraft,
    InvoiceError,
    InvoiceInput,
    LateUsage,
    LineKind,
    PlanSegment,
)
from billing.invoicing.rules.pricing import UsageKey

ONE_DAY = timedelta(days=1)
# Days of a cycle before the account was opened. The pure core wants segments that start on the cycle start
# (it prorates by days of the cycle), so those days get a free stand-in plan whose zero line is removed
# from the draft afterwards: the real plan is prorated by its own days, exactly as on a mid-cycle change.
NOT_YET_OPEN = "not-yet-open"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def _not_yet_open(currency: str) -> PricePlan:
    return PricePlan(NOT_YET_OPEN, 1, _EPOCH, currency, recurring_fee_minor=0, services={})


class BillingPeriod(NamedTuple):
    cycle: Cycle  # the full cycle, or for a final adjustment its window (the day after closing to the deadline)
    end: date  # the day the invoice's period ends (exclusive)
    is_final: bool
    # A closed account after its final invoice: only its late usage is billed, on a final adjustment invoice.
    adjustment: bool = False


def billing_period(account: DueAccount) -> BillingPeriod | None:
    """The period the account's next invoice covers; None when nothing is left to bill.

    A closed account's last cycle ends after its closing day. Once that final invoice is out, the account's
    next period starts after its closing day: the final adjustment (``adjustment_deadline``).
    """
    cycle = cycle_containing(account.anchor_day, account.cycle_start)
    closed = account.closed_on
    if closed is None or closed >= cycle.end:
        return BillingPeriod(cycle, cycle.end, False)
    if closed < account.cycle_start:
        end = max(account.cycle_end, account.cycle_start + ONE_DAY)
        return BillingPeriod(Cycle(account.cycle_start, end), end, True, adjustment=True)
    return BillingPeriod(cycle, closed + ONE_DAY, True)


def adjustment_deadline(account: DueAccount, late_limit_days: int) -> date:
    """When a closed account's final adjustment is due: the day after the late limit of the cycle it closed in.

    Usage of that cycle (or an earlier one) arriving later is dead-lettered by the rating's late-limit rule, so
    once the closer's clock passes this day (plus the grace period) no usage can still arrive to be billed.
    """
    closed = account.closed_on
    assert closed is not None, "only a closed account has a final adjustment"
    closing_cycle = cycle_containing(account.anchor_day, closed)
    return max(closed + 2 * ONE_DAY, closing_cycle.end + timedelta(days=late_limit_days) + ONE_DAY)


def advance_after(account: DueAccount, period: BillingPeriod, late_limit_days: int) -> Advance:
    if period.adjustment:
        return Advance(account.account_id, None, None)
    if period.is_final:
        # Not the end yet: usage of the final cycle may still arrive late, and is billed after the deadline.
        return Advance(account.account_id, period.end, adjustment_deadline(account, late_limit_days))
    following = next_cycle(period.cycle)
    end = following.end
    if account.closed_on is not None:
        # Closed in a later cycle than this one: that later cycle stops after the closing day.
        end = min(end, account.closed_on + ONE_DAY)
    return Advance(account.account_id, following.start, end)


def _day_end(day: date) -> datetime:
    # A change that takes effect during a day applies to that whole day (days are the proration unit).
    return datetime.combine(day + ONE_DAY, time.min, UTC) - timedelta(microseconds=1)


class PlanCalendar:
    """The catalog seen by calendar day, memoised: a batch asks the same few (plan, day) questions for
    thousands of accounts, and the catalog answers each by scanning every version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._version_days: dict[str, frozenset[date]] = {}
        self._in_force: dict[tuple[str, date], PricePlan] = {}

    def version_days(self, plan_id: str) -> frozenset[date]:
        if plan_id not in self._version_days:
            versions = self.catalog.versions(plan_id)
            self._version_days[plan_id] = frozenset(utc_date(plan.effective_from) for plan in versions)
        return self._version_days[plan_id]

    def in_force(self, plan_id: str, day: date) -> PricePlan:
        key = (plan_id, day)
        if key not in self._in_force:
            self._in_force[key] = self.catalog.plan_in_force(plan_id, _day_end(day))
        return self._in_force[key]


def _plan_on(calendar: PlanCalendar, changes: Sequence[PlanChange], day: date, currency: str) -> PricePlan:
    in_force = [change for change in changes if utc_date(change.effective_at) <= day]
    if not in_force:
        return _not_yet_open(currency)
    return calendar.in_force(in_force[-1].plan_id, day)


def _boundaries(calendar: PlanCalendar, changes: Sequence[PlanChange], start: date, end: date) -> list[date]:
    """Days on which the plan may change: account plan changes and catalog version starts."""
    days = {start}
    for change in changes:
        days.add(utc_date(change.effective_at))
        days.update(calendar.version_days(change.plan_id))
    return sorted(day for day in days if start <= day < end)


def plan_segments(
    calendar: PlanCalendar, changes: Sequence[PlanChange], start: date, end: date, currency: str
) -> tuple[PlanSegment, ...]:
    """Plan versions over [start, end): split at plan changes and price-version boundaries, merged when equal."""
    days = _boundaries(calendar, changes, start, end)
    segments: list[PlanSegment] = []
    for first, after in zip(days, [*days[1:], end]):
        plan = _plan_on(calendar, changes, first, currency)
        last = segments[-1] if segments else None
        if last is not None and last.plan.label == plan.label:
            segments[-1] = replace(last, end=after)
        else:
            segments.append(PlanSegment(plan, first, after))
    if all(segment.plan.plan_id == NOT_YET_OPEN for segment in segments):
        raise InvoiceError(f"no plan in force between {start} and {end}")
    return tuple(segments)


def split_usage(
    calendar: PlanCalendar,
    account: DueAccount,
    changes: Sequence[PlanChange],
    rows: Sequence[UsageRow],
    period: BillingPeriod,
) -> tuple[dict[UsageKey, int], list[LateUsage]]:
    """This cycle's billable units per usage key, and earlier cycles' units not billed yet."""
    totals: dict[UsageKey, int] = defaultdict(int)
    late: list[LateUsage] = []
    days_on_plans = _LateDays(calendar, account, changes, period)
    for row in billable_rows(account, rows, period):
        service = ServiceKind(row.service)
        if row.cycle_start == account.cycle_start and not period.adjustment:
            if row.billable_units:
                totals[UsageKey(row.plan_id, row.plan_version, service)] += row.billable_units
        elif row.billable_units > row.billed_units:
            late_period = cycle_containing(account.anchor_day, row.cycle_start)
            late.append(
                LateUsage(
                    period=late_period,
                    plan=calendar.catalog.plan_version(row.plan_id, row.plan_version),
                    service=service,
                    units=row.billable_units - row.billed_units,
                    previously_billed_units=row.billed_units,
                    days_on_plan=days_on_plans.of(late_period, row.plan_id, row.plan_version),
                )
            )
    return dict(totals), late


def billable_rows(account: DueAccount, rows: Sequence[UsageRow], period: BillingPeriod) -> list[UsageRow]:
    """The rows the invoice prices (and marks billed). A final adjustment leaves out rows of cycles after the
    closing's (usage after the closing, rated before the closing arrived): it is not the closed account's."""
    if not period.adjustment:
        return list(rows)
    if account.closed_on is None:
        raise ValueError(f"{account.account_id}: a final adjustment needs a closed account")
    closing_cycle = cycle_containing(account.anchor_day, account.closed_on)
    return [row for row in rows if row.cycle_start <= closing_cycle.start]


class _LateDays:
    """Days on a plan version in an earlier period, counted as that period's invoice counted them."""

    def __init__(
        self, calendar: PlanCalendar, account: DueAccount, changes: Sequence[PlanChange], period: BillingPeriod
    ) -> None:
        self.calendar, self.account, self.changes = calendar, account, changes
        closed = account.closed_on
        # The final invoice ended the closing's cycle after the closing day (then the adjustment starts the day
        # after). A closing that arrived after its cycle was invoiced in full leaves that cycle whole.
        self.final_end: date | None = None
        if period.adjustment and closed is not None and account.cycle_start == closed + ONE_DAY:
            self.final_end = closed + ONE_DAY
        self._days: dict[date, dict[tuple[str, int], int]] = {}

    def of(self, period: Cycle, plan_id: str, version: int) -> int:
        if period.start not in self._days:
            end = period.end
            if self.final_end is not None and period.start < self.final_end <= period.end:
                end = self.final_end
            days: dict[tuple[str, int], int] = defaultdict(int)
            for segment in plan_segments(self.calendar, self.changes, period.start, end, self.account.currency):
                days[(segment.plan.plan_id, segment.plan.version)] += segment.days
            self._days[period.start] = days
        # 0: the plan rated usage in that cycle without holding a day of it (a change during its first day); its
        # usage was priced with no allowance on time (InvoiceInput.usage_only_plans), and so are late units.
        return self._days[period.start].get((plan_id, version), 0)


def adjustments(grants: Sequence[GrantRow], currency: str, issued_at: datetime) -> tuple[Adjustment, ...]:
    """Grants still open on an invoice issued at ``issued_at``.

    credit_note grants are not applied here: they credit one named invoice, which is issue 5's path.
    """
    found: list[Adjustment] = []
    for grant in grants:
        if grant.granted_at > issued_at:
            continue  # only invoices issued after the grant benefit from it
        if grant.kind == "fixed_next_invoice" and grant.currency == currency:
            remaining = (grant.amount_minor or 0) - grant.applied_minor
            if remaining > 0:  # what earlier invoices could not absorb stays available
                found.append(Adjustment(AdjustmentKind.FIXED, grant.grant_id, amount_minor=remaining))
        elif grant.kind == "percent_next_invoices" and grant.applied_count < (grant.invoice_count or 0):
            found.append(Adjustment(AdjustmentKind.PERCENT, grant.grant_id, percent_bp=grant.percent_bp))
    return tuple(found)


def without_stand_in(draft: InvoiceDraft) -> InvoiceDraft:
    """Drop the zero line of the not-yet-open stand-in plan; the draft re-checks its sums on construction."""
    stand_in = f"recurring:{NOT_YET_OPEN}:"
    kept = tuple(line for line in draft.lines if not line.line_id.startswith(stand_in))
    return draft if len(kept) == len(draft.lines) else replace(draft, lines=kept)


def grant_applications(draft: InvoiceDraft) -> tuple[tuple[str, int], ...]:
    """(grant_id, amount applied) for every grant on the draft, zero included: a percent grant's invoice
    counts against its invoice_count even when there was nothing to discount."""
    kinds = {LineKind.DISCOUNT, LineKind.CREDIT}
    return tuple((line.line_id.split(":", 1)[1], -line.amount_minor) for line in draft.lines if line.kind in kinds)


def invoice_input(
    calendar: PlanCalendar,
    account: DueAccount,
    period: BillingPeriod,
    changes: Sequence[PlanChange],
    usage: Sequence[UsageRow],
    grants: Sequence[GrantRow],
    issued_at: datetime,
) -> InvoiceInput:
    cycle, end, is_final = period.cycle, period.end, period.is_final
    catalog = calendar.catalog
    totals, late = split_usage(calendar, account, changes, usage, period)
    # A final adjustment bills late usage only: its window is covered by the free stand-in plan, no fee.
    segments = (
        (PlanSegment(_not_yet_open(account.currency), cycle.start, end),)
        if period.adjustment
        else plan_segments(calendar, changes, cycle.start, end, account.currency)
    )
    return InvoiceInput(
        account_id=account.account_id,
        currency=account.currency,
        cycle=cycle,
        plan_segments=segments,
        usage_only_plans=usage_only_plans(catalog, segments, totals),
        usage_totals=totals,
        tax_rate_bp=catalog.taxes.rate_bp(account.jurisdiction),
        late_usage=tuple(late),
        adjustments=adjustments(grants, account.currency, issued_at),
        is_final=is_final,
    )


def usage_only_plans(
    catalog: Catalog, segments: Sequence[PlanSegment], totals: Mapping[UsageKey, int]
) -> tuple[PricePlan, ...]:
    """The plan versions this cycle's usage was rated under that hold none of its days (InvoiceInput)."""
    held = {(segment.plan.plan_id, segment.plan.version) for segment in segments}
    wanted = sorted({(key.plan_id, key.plan_version) for key in totals} - held)
    return tuple(catalog.plan_version(plan_id, version) for plan_id, version in wanted)
