"""Properties of the whole pure path a worker and the closer take: per-event rating (src/billing/usage/rules/rating.py),
storage keyed by event id (modelled by a dict: PostgreSQL's primary key with ON CONFLICT DO NOTHING), cycle
totals, the closer's assembly (src/billing/invoicing/rules/inputs.py) and the wire form (src/billing/invoicing/events.py).

test_billing_properties.py covers order and batching of already rated totals in the invoice builder; these add
redelivery, arbitrary batches through the rating itself, a mid-cycle plan change, and the published event.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.invoicing.events import draft_totals, issued_event, wire_lines
from billing.invoicing.rules import inputs
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import demo_catalog
from billing.invoicing.rules.close_model import DueAccount, PlanChange, UsageRow
from billing.usage.rules.rating import AccountView, RatingLimits, rate_batch
from billing.usage.rules.usage_record import Usage

CATALOG = demo_catalog()
CALENDAR = inputs.PlanCalendar(CATALOG)
OPENED = datetime(2026, 11, 1, tzinfo=UTC)
CLOSE = datetime(2026, 12, 2, tzinfo=UTC)
LIMITS = RatingLimits(
    now=CLOSE, max_future_skew=timedelta(minutes=5), close_grace=timedelta(days=1), late_limit=timedelta(days=60)
)
UNITS = {"voice": "second", "sms": "message", "data": "byte"}
QUANTITY = {"voice": st.integers(0, 9000), "sms": st.integers(0, 3), "data": st.integers(0, 3 << 30)}

usage_specs = st.lists(
    st.sampled_from(sorted(UNITS)).flatmap(
        lambda service: st.tuples(st.just(service), QUANTITY[service], st.integers(0, 29 * 24 * 60))
    ),
    max_size=30,
)
change_day = st.none() | st.integers(1, 29)


def _usages(specs) -> list[Usage]:
    return [
        Usage(
            f"evt-{n}",
            "acc-p",
            f"cdr-{n}",
            service,
            quantity,
            UNITS[service],
            OPENED + timedelta(minutes=minute),
            OPENED + timedelta(minutes=minute),
            "prop",
        )
        for n, (service, quantity, minute) in enumerate(specs)
    ]


def _changes(day: int | None) -> list[PlanChange]:
    changes = [PlanChange("mobile-s", OPENED)]
    if day is not None:
        changes.append(PlanChange("mobile-l", OPENED + timedelta(days=day)))
    return changes


def _stored(batches: list[list[Usage]], changes: list[PlanChange]) -> dict[str, object]:
    """Rate batch by batch as the worker does; the first row stored under an event id wins."""
    account = AccountView("acc-p", 1, OPENED, None, tuple((c.effective_at, c.plan_id) for c in changes))
    stored: dict[str, object] = {}
    for batch in batches:
        outcome = rate_batch(batch, {"acc-p": account}, CATALOG, LIMITS)
        assert not outcome.refused and not outcome.parked
        for _, row in outcome.rated:
            stored.setdefault(row.usage.event_id, row)
    return stored


def _invoice(stored: dict[str, object], changes: list[PlanChange]):
    totals: dict[tuple, int] = defaultdict(int)  # the cycle_usage rows
    for row in stored.values():
        totals[(row.cycle_start, row.plan_id, row.plan_version, row.usage.service)] += row.billable_units
    usage = [
        UsageRow(None, "acc-p", start, plan, version, service, units, 0)
        for (start, plan, version, service), units in sorted(totals.items())
    ]
    due = DueAccount("acc-p", "EUR", "DE", 1, date(2026, 11, 1), date(2026, 12, 1), None)
    period = inputs.billing_period(due)
    draft = build_invoice(inputs.invoice_input(CALENDAR, due, period, changes, usage, [], CLOSE))
    return inputs.without_stand_in(draft)


def _batches(events: list[Usage], cuts: list[int]) -> list[list[Usage]]:
    points = [0, *sorted(min(cut, len(events)) for cut in cuts), len(events)]
    return [events[start:end] for start, end in itertools.pairwise(points)]


@settings(deadline=None, max_examples=150)
@given(usage_specs, change_day, st.lists(st.integers(0, 30), max_size=5), st.data())
def test_redelivery_reordering_and_batching_change_nothing(specs, day, cuts, data) -> None:
    events, changes = _usages(specs), _changes(day)
    once = _invoice(_stored([events], changes), changes)

    # At-least-once: any events delivered again, anywhere in the stream, in any order and any batches.
    replayed = data.draw(st.lists(st.sampled_from(events), max_size=15)) if events else []
    deliveries = data.draw(st.permutations(events + replayed))
    assert _invoice(_stored(_batches(list(deliveries), cuts), changes), changes) == once


@settings(deadline=None, max_examples=150)
@given(usage_specs, change_day)
def test_the_published_event_carries_lines_that_sum_to_its_totals(specs, day) -> None:
    changes = _changes(day)
    draft = _invoice(_stored([_usages(specs)], changes), changes)
    lines = wire_lines(draft)
    # The event model re-derives subtotal, discount, tax and total from the lines and refuses a mismatch.
    event = issued_event(
        invoice_id="inv-acc-p-20261101",
        account_id="acc-p",
        invoice_number="INV-2026-000001",
        period=(date(2026, 11, 1), date(2026, 12, 1)),
        issued_at=CLOSE,
        due_date=date(2026, 12, 16),
        currency="EUR",
        lines=lines,
        totals=draft_totals(draft),
    )
    assert sum(line.amount_minor for line in event.payload.lines) == event.payload.total_minor == draft.total_minor
    assert event.payload.total_minor >= 0
