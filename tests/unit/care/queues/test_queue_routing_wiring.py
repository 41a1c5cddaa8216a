"""Which projection handlers also route or cancel tasks, and that the projection always runs first."""

from __future__ import annotations

import asyncio
import contextlib

from billing.accounts import ledger
from billing.accounts import projection as accounts
from billing.care import calls_projection as calls
from billing.care import routing_tasks
from billing.care.config import default_care_config
from billing.invoicing.rules.catalog import demo_catalog
from billing.platform.metrics import Metrics
from billing.platform.topics import ACCOUNTS, CUSTOMER_CALLS, DISCOUNTS_GRANTED, DISPUTES

CARE = default_care_config()


def _wrapped(spec, handlers) -> set[str]:
    routed = routing_tasks.with_task_routing(spec, handlers, CARE, Metrics())
    assert set(routed) == set(handlers)  # nothing added, nothing lost
    return {event_type for event_type in handlers if routed[event_type] is not handlers[event_type]}


def test_only_the_task_making_and_task_ending_events_are_wrapped() -> None:
    assert _wrapped(CUSTOMER_CALLS, calls.HANDLERS) == {"call.started.v1", "call.abandoned.v1"}
    assert _wrapped(DISPUTES, ledger.DISPUTE_HANDLERS) == {"dispute.opened.v1"}
    assert _wrapped(ACCOUNTS, accounts.handlers(demo_catalog())) == {"account.closed.v1"}
    assert _wrapped(DISCOUNTS_GRANTED, ledger.DISCOUNT_HANDLERS) == set()


def test_the_projection_runs_before_the_queue_effect_and_a_refusal_stops_it(monkeypatch) -> None:
    seen: list[str] = []

    async def projection(conn, event) -> None:
        seen.append("projection")
        if event == "refused":
            raise ValueError("refused by the projection")

    async def route(conn, event, care) -> None:
        seen.append("route")

    monkeypatch.setattr(routing_tasks, "route_call", route)
    handler = routing_tasks.with_task_routing(CUSTOMER_CALLS, {"call.started.v1": projection}, CARE, Metrics())
    asyncio.run(handler["call.started.v1"](None, "ok"))
    assert seen == ["projection", "route"]
    seen.clear()
    with contextlib.suppress(ValueError):
        asyncio.run(handler["call.started.v1"](None, "refused"))
    assert seen == ["projection"]
