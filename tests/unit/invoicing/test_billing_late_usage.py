"""Late usage costs exactly what it would have cost on time: the allowance of its own cycle is prorated by the
days its plan version had there (mid-cycle plan change, price-version change, final invoice's partial period).

The closer's assembly (src/billing/invoicing/rules/inputs.py) and the pure core, from cycle_usage rows as the closer reads
them; demo catalog (src/billing/invoicing/rules/catalog_demo_data.py):
    mobile-s v1 (2026-01-01): fee 999; voice 6000 s included, tiers 6000 s @ 0.15 then @ 0.09.
    mobile-s v2 (2026-07-01): fee 1099; voice 6000 s included, tiers 6000 s @ 0.14 then @ 0.08.
    mobile-l v1: fee 2999; voice 60000 s included. EUR cents, tax DE 19 %.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.invoicing.rules import inputs
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import demo_catalog
from billing.invoicing.rules.close_model import DueAccount, PlanChange, UsageRow
from billing.invoicing.rules.invoice_model import LineKind

CALENDAR = inputs.PlanCalendar(demo_catalog())
LATE_DAYS = 60
USAGE_KINDS = {LineKind.INCLUDED, LineKind.USAGE, LineKind.MINIMUM}


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _draft(account: DueAccount, changes: list[PlanChange], rows: list[UsageRow]):
    period = inputs.billing_period(account)
    draft = build_invoice(inputs.invoice_input(CALENDAR, account, period, changes, rows, [], _at(period.end)))
    return inputs.without_stand_in(draft)


def _amounts(draft) -> dict[str, int]:
    return {line.line_id: line.amount_minor for line in draft.lines}


def _row(cycle_start: date, plan: str, version: int, units: int, billed: int = 0) -> UsageRow:
    return UsageRow(None, "acc-late", cycle_start, plan, version, "voice", units, billed)


def _account(anchor: int, start: date, end: date, closed_on: date | None = None) -> DueAccount:
    return DueAccount("acc-late", "EUR", "DE", anchor, start, end, closed_on)


NOV, DEC, JAN = date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)
SWITCH = [PlanChange("mobile-s", _at(NOV)), PlanChange("mobile-l", datetime(2026, 11, 16, tzinfo=UTC))]


def test_late_usage_after_a_mid_cycle_plan_change_has_the_prorated_allowance() -> None:
    # 15 of 30 November days on mobile-s v2: allowance 6000 x 15/30 = 3000 s.
    november = _draft(_account(1, NOV, DEC), SWITCH, [_row(NOV, "mobile-s", 2, 10_060)])
    # On the November invoice: 10060 - 3000 = 7060 s; tier 1 6000 x 0.14 = 840; tier 2 1060 x 0.08 = 84.80 -> 85.
    assert sum(line.amount_minor for line in november.lines if line.kind in USAGE_KINDS) == 840 + 85
    on_time = _draft(_account(1, NOV, DEC), SWITCH, [_row(NOV, "mobile-s", 2, 10_560)])
    # Had the 500 s come on time: 7560 s; 840 + 1560 x 0.08 = 124.80 -> 125; 965.
    assert sum(line.amount_minor for line in on_time.lines if line.kind in USAGE_KINDS) == 840 + 125
    december = _draft(_account(1, DEC, JAN), SWITCH, [_row(NOV, "mobile-s", 2, 10_560, billed=10_060)])
    # Late: 965 - 925 = 40 (with the full 6000 s allowance it was 638 - 568 = 70).
    assert _amounts(december)["adjustment:2026-11-01:mobile-s:v2:voice"] == 40


def test_late_usage_across_a_price_version_change_has_the_prorated_allowance() -> None:
    # Anchor 15: cycle 15 June - 15 July (30 days); mobile-s v1 until 30 June (16 days), v2 from 1 July (14).
    june, july, august = date(2026, 6, 15), date(2026, 7, 15), date(2026, 8, 15)
    changes = [PlanChange("mobile-s", _at(june))]
    first = _draft(_account(15, june, july), changes, [_row(june, "mobile-s", 1, 5000)])
    # v1 allowance 6000 x 16/30 = 3200 s: 1800 s x 0.15 = 270. Fees 999 x 16/30 = 532.8 -> 533, 1099 x 14/30 =
    # 512.87 -> 513.
    assert _amounts(first)["usage:mobile-s:v1:voice:tier1"] == 270
    assert (_amounts(first)["recurring:mobile-s:v1"], _amounts(first)["recurring:mobile-s:v2"]) == (533, 513)
    on_time = _draft(_account(15, june, july), changes, [_row(june, "mobile-s", 1, 6000)])
    assert _amounts(on_time)["usage:mobile-s:v1:voice:tier1"] == 420  # 2800 s x 0.15
    later = _draft(_account(15, july, august), changes, [_row(june, "mobile-s", 1, 6000, billed=5000)])
    # Late 1000 s: 420 - 270 = 150 (with the full 6000 s allowance: 0 - 0 = 0, the usage given away).
    assert _amounts(later)["adjustment:2026-06-15:mobile-s:v1:voice"] == 150


def test_late_usage_of_a_final_invoice_is_billed_on_the_final_adjustment_with_its_partial_allowance() -> None:
    closed = date(2026, 11, 10)  # final period 1-10 November: 10 of 30 days, allowance 6000 x 10/30 = 2000 s
    changes = [PlanChange("mobile-s", _at(NOV))]
    final_account = _account(1, NOV, closed + timedelta(days=1), closed)
    final = _draft(final_account, changes, [_row(NOV, "mobile-s", 2, 2500)])
    # Fee 1099 x 10/30 = 366.33 -> 366; voice 500 s x 0.14 = 70; subtotal 436; tax 82.84 -> 83; total 519.
    assert (final.is_final, _amounts(final)["usage:mobile-s:v2:voice:tier1"], final.total_minor) == (True, 70, 519)
    # After the final invoice the account waits for its final adjustment: the day after the closing up to the
    # day after the late limit of November (1 December + 60 days + 1 = 31 January 2027).
    advance = inputs.advance_after(final_account, inputs.billing_period(final_account), LATE_DAYS)
    assert (advance.next_start, advance.next_end) == (date(2026, 11, 11), date(2027, 1, 31))
    adjustment_account = _account(1, advance.next_start, advance.next_end, closed)
    adjustment = _draft(adjustment_account, changes, [_row(NOV, "mobile-s", 2, 3500, billed=2500)])
    # On time 3500 s: 1500 x 0.14 = 210; late 210 - 70 = 140; no fee; tax 26.6 -> 27; total 167.
    assert _amounts(adjustment) == {"adjustment:2026-11-01:mobile-s:v2:voice": 140, "tax": 27}
    assert (adjustment.is_final, adjustment.total_minor) == (True, 167)
    done = inputs.advance_after(adjustment_account, inputs.billing_period(adjustment_account), LATE_DAYS)
    assert (done.next_start, done.next_end) == (None, None)


def test_a_closing_that_arrived_after_its_cycle_was_invoiced_waits_for_the_same_deadline() -> None:
    # Closed on 10 November, known only after November was invoiced in full: the next period starts on
    # 1 December, and the projection ended it the day after the closing.
    late_close = _account(1, DEC, date(2026, 11, 11), date(2026, 11, 10))
    assert inputs.billing_period(late_close).adjustment
    assert inputs.adjustment_deadline(late_close, LATE_DAYS) == date(2027, 1, 31)
    # November was invoiced whole, so its late usage keeps the full allowance: 6500 - 6000 = 500 s x 0.14 = 70.
    window = _account(1, DEC, date(2027, 1, 31), date(2026, 11, 10))
    adjustment = _draft(window, [PlanChange("mobile-s", _at(NOV))], [_row(NOV, "mobile-s", 2, 6500, billed=6000)])
    assert _amounts(adjustment)["adjustment:2026-11-01:mobile-s:v2:voice"] == 70


@settings(deadline=None, max_examples=200)
@given(
    change_day=st.none() | st.integers(2, 30),
    closed_day=st.none() | st.integers(1, 30),
    on_time=st.tuples(st.integers(0, 20_000), st.integers(0, 80_000)),
    late=st.tuples(st.integers(0, 20_000), st.integers(0, 80_000)),
)
def test_on_time_and_late_cost_the_same(change_day, closed_day, on_time, late) -> None:
    """Whatever the plan change, closing day and split: usage priced on time == priced on time in part, the rest
    late on the next invoice (or the final adjustment)."""
    changes = [PlanChange("mobile-s", _at(NOV))]
    if change_day is not None:
        changes.append(PlanChange("mobile-l", _at(date(2026, 11, change_day))))
    closed = None if closed_day is None else date(2026, 11, closed_day)
    end = DEC if closed is None else closed + timedelta(days=1)
    keys = [("mobile-s", 2), ("mobile-l", 1)]
    november = _account(1, NOV, end, closed)
    segments = {(s.plan.plan_id, s.plan.version) for s in inputs.plan_segments(CALENDAR, changes, NOV, end, "EUR")}
    used = [(key, first, more) for key, first, more in zip(keys, on_time, late) if key in segments]

    def usage_total(rows: list[UsageRow]) -> int:
        return sum(line.amount_minor for line in _draft(november, changes, rows).lines if line.kind in USAGE_KINDS)

    all_on_time = usage_total([_row(NOV, *key, first + more) for key, first, more in used])
    partly = usage_total([_row(NOV, *key, first) for key, first, _ in used])
    final = inputs.advance_after(november, inputs.billing_period(november), LATE_DAYS)
    following = _account(1, final.next_start, final.next_end, closed)
    next_draft = _draft(following, changes, [_row(NOV, *key, first + more, billed=first) for key, first, more in used])
    late_lines = sum(line.amount_minor for line in next_draft.lines if line.kind is LineKind.LATE_USAGE)
    assert all_on_time == partly + late_lines
