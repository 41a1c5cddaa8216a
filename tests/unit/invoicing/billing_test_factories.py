"""Shared builders for the billing unit tests (plain functions, no fixtures).

Prices in these test plans are chosen so the hand calculations in the tests
stay readable; they are not the demo catalog's prices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from billing.invoicing.rules.catalog import Catalog, PricePlan, ServiceKind
from billing.invoicing.rules.cycles import Cycle, cycle_for
from billing.invoicing.rules.pricing import RatedUsage, UsageEvent, rate_usage

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


def usage_event(service_kind: ServiceKind, quantity: int, at: datetime, account_id: str = "acc-1") -> UsageEvent:
    return UsageEvent(f"ev-{next(_event_numbers)}", account_id, service_kind, quantity, at)


def rated(plan: PricePlan, service_kind: ServiceKind, quantity: int, at: datetime, anchor_day: int = 1) -> RatedUsage:
    cycle: Cycle = cycle_for(anchor_day, at)
    return rate_usage(usage_event(service_kind, quantity, at), plan, cycle)
