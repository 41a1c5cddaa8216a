"""Shared builders for the billing unit tests (plain functions, no fixtures).

Prices in these test plans are chosen so the hand calculations in the tests
stay readable; they are not the demo catalog's prices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from billing.invoicing.rules.catalog import Catalog, PricePlan, ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.pricing import UsageKey
from billing.usage.fast_decode import Usage
from billing.usage.rules.rating import AccountView, RatedRow, RatingLimits, rate_one

_event_numbers = count(1)


def utc(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def open_tier(price: str) -> dict[str, Any]:
    return {"up_to_units": None, "unit_price": price}


def service(
    included: int, increment: tuple[int, int], tiers: list[dict[str, Any]], minimum: int = 0, unit: str = "unit"
) -> dict[str, Any]:
    first, then = increment
    return {
        "unit": unit,
        "included_units": included,
        "increment": {"first": first, "then": then},
        "minimum_charge_minor": minimum,
        "tiers": tiers,
    }


def plan_dict(
    plan_id: str,
    currency: str,
    fee: int,
    services: dict[str, Any],
    version: int = 1,
    effective_from: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "version": version,
        "effective_from": effective_from,
        "currency": currency,
        "recurring_fee_minor": fee,
        "services": services,
    }


TALK_S = plan_dict(
    "talk-s",
    "EUR",
    1000,
    {
        "voice": service(3000, (60, 1), [{"up_to_units": 600, "unit_price": "0.25"}, open_tier("0.15")], unit="second"),
        "data": service(307_200, (1024, 1024), [open_tier("0.001")], unit="byte"),
        "sms": service(0, (1, 1), [open_tier("9")], minimum=50, unit="message"),
    },
)

TALK_L = plan_dict(
    "talk-l",
    "EUR",
    3000,
    {
        "voice": service(6000, (60, 1), [open_tier("0.10")], unit="second"),
        "data": service(3_072_000, (1024, 1024), [open_tier("0.0005")], unit="byte"),
        "sms": service(100, (1, 1), [open_tier("5")], unit="message"),
    },
)

JP_TEST = plan_dict(
    "jp-test",
    "JPY",
    2980,
    {
        "voice": service(0, (60, 1), [open_tier("0.5")], unit="second"),
        "sms": service(0, (1, 1), [open_tier("2.8")], unit="message"),
    },
)


def build_test_catalog() -> Catalog:
    return Catalog.from_dict({"taxes": {"DE": 1900, "JP": 1000}, "plans": [TALK_S, TALK_L, JP_TEST]})


def usage_record(service_kind: ServiceKind, quantity: int, at: datetime, account_id: str = "acc-1") -> Usage:
    number = next(_event_numbers)
    unit = {ServiceKind.VOICE: "second", ServiceKind.SMS: "message", ServiceKind.DATA: "byte"}[service_kind]
    return Usage(f"ev-{number}", account_id, f"cdr-{number}", service_kind.value, quantity, unit, at, at, "test")


def rated(plan: PricePlan, service_kind: ServiceKind, quantity: int, at: datetime, anchor_day: int = 1) -> RatedRow:
    """Rate one record as a worker does (src/billing/usage/rules/rating.py ``rate_one``), for an account that
    has been on ``plan`` since the plan took effect; the clock is the record's own start, so no record is late."""
    account = AccountView("acc-1", anchor_day, plan.effective_from, None, ((plan.effective_from, plan.plan_id),))
    limits = RatingLimits(now=at, max_future_skew=timedelta(0), close_grace=timedelta(0), late_limit=timedelta(0))
    row = rate_one(usage_record(service_kind, quantity, at), account, Catalog(plans=(plan,)), limits)
    if isinstance(row, str):
        raise AssertionError(f"the rating refused the record: {row}")
    assert (row.plan_id, row.plan_version) == (plan.plan_id, plan.version)
    return row


def usage_key(row: RatedRow) -> UsageKey:
    return UsageKey(row.plan_id, row.plan_version, ServiceKind(row.usage.service))


def usage_totals(rows: Iterable[RatedRow], cycle: Cycle) -> dict[UsageKey, int]:
    """Billable units of ``cycle`` per usage key: what the worker's cycle_usage rows add up and
    inputs.split_usage hands the invoice builder for a cycle billed on time."""
    totals: dict[UsageKey, int] = defaultdict(int)
    for row in rows:
        if row.cycle_start == cycle.start:
            totals[usage_key(row)] += row.billable_units
    return dict(totals)


def merge_usage_totals(*partials: Mapping[UsageKey, int]) -> dict[UsageKey, int]:
    """Totals of separately rated batches of one cycle, added up as the cycle_usage upsert adds them."""
    merged: dict[UsageKey, int] = defaultdict(int)
    for partial in partials:
        for key, units in partial.items():
            merged[key] += units
    return dict(merged)
