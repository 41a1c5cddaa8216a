"""The advisor's inputs rebuilt from stored invoices: priced again, each is the invoice's total to the minor unit,
whatever late usage, grants and plan changes the closer had to take into account (property)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.invoicing.events import wire_lines
from billing.invoicing.rules import inputs
from billing.invoicing.rules.billed_cycles import AdvisorRows, StoredGrant, StoredInvoice, billed_cycles, open_cycle
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import demo_catalog
from billing.invoicing.rules.close_model import DueAccount, GrantRow, PlanChange, UsageRow
from billing.invoicing.rules.plan_advisor import advise_plans

CATALOG = demo_catalog()
STARTS = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]
SERVICES = ["voice", "sms", "data"]


def _account(start: date, end: date) -> DueAccount:
    return DueAccount("acc-1", "EUR", "DE", 1, start, end, None)


class Closer:
    """The closer's pure path over cycle_usage rows kept in a dict, as store.py and closer.py use them."""

    def __init__(self, changes: list[PlanChange], grants: list[GrantRow]) -> None:
        self.calendar = inputs.PlanCalendar(CATALOG)
        self.changes = changes
        self.grants = grants
        self.applications: dict[str, list[tuple[str, int]]] = {grant.grant_id: [] for grant in grants}
        self.rows: dict[tuple[date, str, int, str], list[int]] = {}  # -> [billable, billed]
        self.invoices: list[StoredInvoice] = []

    def rate(self, cycle_start: date, day: date, service: str, units: int) -> None:
        """Units used on ``day`` of the cycle starting ``cycle_start``, rated under the plan of that day."""
        plan = self.calendar.in_force(_plan_on(self.changes, day), day)
        row = self.rows.setdefault((cycle_start, plan.plan_id, plan.version, service), [0, 0])
        row[0] += units

    def usage_rows(self, cycle_start: date) -> list[UsageRow]:
        return [
            UsageRow(None, "acc-1", start, plan_id, version, service, billable, billed)
            for (start, plan_id, version, service), (billable, billed) in sorted(self.rows.items())
            if start <= cycle_start and (start == cycle_start or billable > billed)
        ]

    def grant_rows(self) -> list[GrantRow]:
        return [
            GrantRow(
                **{
                    **vars(grant),
                    "applied_minor": sum(a for _, a in self.applications[grant.grant_id]),
                    "applied_count": len(self.applications[grant.grant_id]),
                }
            )
            for grant in self.grants
        ]

    def close(self, start: date, end: date, issued_at: datetime) -> None:
        account = _account(start, end)
        period = inputs.billing_period(account)
        assert period is not None
        usage = self.usage_rows(start)
        built = inputs.invoice_input(self.calendar, account, period, self.changes, usage, self.grant_rows(), issued_at)
        draft = inputs.without_stand_in(build_invoice(built))
        invoice_id = f"inv-{start}"
        for grant_id, amount in inputs.grant_applications(draft):
            self.applications[grant_id].append((invoice_id, amount))
        for row in usage:
            self.rows[(row.cycle_start, row.plan_id, row.plan_version, row.service)][1] = row.billable_units
        lines = tuple(wire_lines(draft))
        self.invoices.append(StoredInvoice(invoice_id, start, end, "issued", draft.total_minor, issued_at, lines))

    def advisor_rows(self, open_start: date, open_end: date) -> AdvisorRows:
        grants = tuple(StoredGrant(row, tuple(self.applications[row.grant_id])) for row in self.grant_rows())
        return AdvisorRows(
            account=_account(open_start, open_end),
            has_open_cycle=True,
            changes=tuple(self.changes),
            invoices=tuple(self.invoices),
            grants=grants,
            open_usage=tuple(self.usage_rows(open_start)),
        )


def _plan_on(changes: list[PlanChange], day: date) -> str:
    return [change.plan_id for change in changes if change.effective_at.date() <= day][-1]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


usage_draws = st.lists(
    st.tuples(st.sampled_from(SERVICES), st.integers(0, 9_000), st.booleans()), min_size=0, max_size=12
)


@settings(deadline=None, max_examples=60)
@given(
    cycles=st.lists(usage_draws, min_size=3, max_size=3),
    change_day=st.none() | st.integers(1, 80),
    opened_day=st.integers(0, 20),
    percent=st.none() | st.integers(1, 5000),
    fixed=st.none() | st.integers(1, 3000),
)
def test_rebuilt_cycles_price_to_what_was_billed(cycles, change_day, opened_day, percent, fixed) -> None:
    opened = _at(STARTS[0] + timedelta(days=opened_day))
    changes = [PlanChange("mobile-s", opened)]
    if change_day is not None:
        changes.append(PlanChange("mobile-l", opened + timedelta(days=change_day)))
    grants = []
    if percent is not None:
        grants.append(GrantRow("g-pct", "percent_next_invoices", percent, 2, None, None, opened, 0, 0))
    if fixed is not None:
        grants.append(GrantRow("g-fix", "fixed_next_invoice", None, None, fixed, "EUR", opened, 0, 0))
    closer = Closer(changes, grants)
    for index, draws in enumerate(cycles):
        start, end = STARTS[index], STARTS[index + 1]
        for service, units, late in draws:
            # late: units of the last day of the cycle before, arriving after it closed
            if late and index:
                closer.rate(STARTS[index - 1], start - timedelta(days=1), service, units)
            else:
                closer.rate(start, max(start, opened.date()), service, units)
        closer.close(start, end, _at(end) + timedelta(hours=2))
    closer.rate(STARTS[3], STARTS[3], "voice", 1234)
    rows = closer.advisor_rows(STARTS[3], date(2026, 12, 1))
    calendar = inputs.PlanCalendar(CATALOG)
    rebuilt = billed_cycles(calendar, rows, 3)
    assert [build_invoice(cycle.invoice).total_minor for cycle in rebuilt] == [i.total_minor for i in closer.invoices]
    assert [cycle.billed_total_minor for cycle in rebuilt] == [i.total_minor for i in closer.invoices]
    so_far = open_cycle(calendar, rows, datetime(2026, 11, 10, 12, tzinfo=UTC))
    assert so_far is not None and so_far.elapsed_days == 10
    current = _plan_on(closer.changes, rows.account.cycle_start)
    advice = advise_plans(CATALOG, rebuilt, so_far, current, datetime(2026, 11, 10, 12, tzinfo=UTC))
    for option in advice.options:
        # a cycle billed on one plan id only is priced as it was on that plan
        for index, invoice in enumerate(rebuilt):
            plans = {s.plan.plan_id for s in invoice.invoice.plan_segments} - {inputs.NOT_YET_OPEN}
            if plans == {option.plan_id}:
                assert option.differences_minor[index] == 0


def test_only_the_last_cycles_and_no_fee_free_adjustment() -> None:
    closer = Closer([PlanChange("mobile-s", _at(STARTS[0]))], [])
    for index in range(3):
        closer.rate(STARTS[index], STARTS[index], "sms", 150)  # 50 over the 100 included: 50 x 9 cents = 450
        closer.close(STARTS[index], STARTS[index + 1], _at(STARTS[index + 1]))
    rows = closer.advisor_rows(STARTS[3], date(2026, 12, 1))
    rebuilt = billed_cycles(inputs.PlanCalendar(CATALOG), rows, 2)
    assert [cycle.invoice.cycle.start for cycle in rebuilt] == STARTS[1:3]
    # mobile-s v2 (from July): fee 1099 + 450 = 1549, VAT 19 %: 294.31 -> 294; total 1843
    assert [cycle.billed_total_minor for cycle in rebuilt] == [1843, 1843]
