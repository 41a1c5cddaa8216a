"""Rating on the real stack: parked until the account exists, refusals dead-lettered, cycle totals exact,
and a kill -9 in the middle of 100,000 events bills exactly the valid ones, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from billing.contracts import envelope as ev
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit
from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Population, bad_usage_records, publish, record_of
from billing.invoicing.rules.catalog import ServiceKind as PlanService
from billing.invoicing.rules.catalog import demo_catalog
from billing.invoicing.rules.cycles import cycle_for
from billing.invoicing.rules.pricing import billable_units
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration
NOV = datetime(2026, 11, 1, tzinfo=UTC)
UNIT = {ServiceKind.VOICE: UsageUnit.SECOND, ServiceKind.SMS: UsageUnit.MESSAGE, ServiceKind.DATA: UsageUnit.BYTE}


def _usage(
    account: str, quantity: int, at: datetime, service: ServiceKind = ServiceKind.VOICE
) -> ev.UsageRecordedEvent:
    return ev.UsageRecordedEvent(
        event_id=unique("u"),
        source="test/switch",
        occurred_at=at,
        schema_version=1,
        type="usage.recorded.v1",
        payload=UsageRecorded(
            account_id=account,
            record_id=unique("cdr"),
            service=service,
            quantity=quantity,
            unit=UNIT[service],
            started_at=at,
        ),
    )


async def test_usage_before_its_account_is_parked_then_rated(live) -> None:
    population = Population.of(1, prefix=unique("park"))
    account = population.account_ids[0]
    early = _usage(account, 61, NOV + timedelta(days=2))
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(early)])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM parked_usage WHERE account_id = $1", account), lambda n: n == 1
    )

    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()])
    row = await eventually(
        lambda: fetch(
            dsn,
            "SELECT billable_units, plan_id, plan_version, cycle_start FROM usage_events WHERE event_id = $1",
            early.event_id,
        ),
        lambda rows: len(rows) == 1,
    )
    # Population opens every 3rd account on mobile-l, the others on mobile-s: account 0 is mobile-l (v1 in 2026).
    assert tuple(row[0]) == (61, "mobile-l", 1, NOV.date())
    assert await fetchval(dsn, "SELECT count(*) FROM parked_usage WHERE account_id = $1", account) == 0


async def test_usage_for_an_account_that_never_comes_is_dead_lettered_after_the_park_limit(live) -> None:
    account = unique("ghost")
    lost = _usage(account, 30, NOV + timedelta(days=3))
    await publish(live.require_bootstrap(), [record_of(lost)])
    dsn = live.require_database_url()
    reason = await eventually(
        lambda: fetchval(dsn, "SELECT reason FROM dead_letters WHERE original_key = $1", account.encode()),
        lambda r: r is not None,
        timeout_s=live.usage_park_limit_s + 90,
    )
    assert reason == f"account {account} unknown after waiting {live.usage_park_limit_s} s"


async def test_future_and_implausible_usage_is_refused_with_its_rule(live) -> None:
    population = Population.of(1, prefix=unique("refuse"))
    account = population.account_ids[0]
    future = _usage(account, 30, datetime.now(UTC) + timedelta(hours=1))
    huge = _usage(account, 100_000, NOV + timedelta(days=4))
    fine = _usage(account, 30, NOV + timedelta(days=4))
    await publish(live.require_bootstrap(), [record_of(e) for e in [*population.openings(), future, huge, fine]])
    dsn = live.require_database_url()
    rows = await eventually(
        lambda: fetch(
            dsn, "SELECT error_kind, reason FROM dead_letters WHERE original_key = $1 ORDER BY id", account.encode()
        ),
        lambda rs: len(rs) == 2,
    )
    reasons = " | ".join(r["reason"] for r in rows)
    assert {r["error_kind"] for r in rows} == {"rejected"}
    assert "is in the future" in reasons and "exceeds the sanity limit 86400" in reasons
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account), lambda n: n == 1
    )


async def test_cycle_totals_are_the_sum_of_rounded_records(live) -> None:
    population = Population.of(1, prefix=unique("totals"))
    account = population.account_ids[0]  # mobile-l v1: voice 60/1, data per started kB (1024/1024)
    at = NOV + timedelta(days=5)
    records = [_usage(account, q, at) for q in (1, 60, 61, 125)]  # bills 60 + 60 + 61 + 125 = 306 s
    records += [_usage(account, q, at, ServiceKind.DATA) for q in (1, 1024, 1025)]  # 1024 + 1024 + 2048 = 4096
    records.append(records[0])  # a duplicate adds nothing
    await publish(live.require_bootstrap(), [record_of(e) for e in [*population.openings(), *records]])
    dsn = live.require_database_url()
    totals = await eventually(
        lambda: fetch(
            dsn,
            "SELECT service, billable_units, events FROM cycle_usage WHERE account_id = $1 ORDER BY service",
            account,
        ),
        lambda rows: sum(r["events"] for r in rows) == 7,
    )
    assert [tuple(r) for r in totals] == [("data", 4096, 3), ("voice", 306, 4)]


def _oracle(population: Population, events: list[ev.UsageRecordedEvent]) -> Counter:
    """Billable units per (account, cycle start, service), computed from the catalog alone."""
    catalog = demo_catalog()
    plan_of = {e.payload.account_id: (e.payload.plan_id, e.payload.billing_anchor_day) for e in population.openings()}
    totals: Counter = Counter()
    for event in events:
        p = event.payload
        plan_id, anchor = plan_of[p.account_id]
        plan = catalog.plan_in_force(plan_id, p.started_at)
        units = billable_units(p.quantity, plan.rate_for(PlanService(str(p.service))).increment)
        totals[(p.account_id, cycle_for(anchor, p.started_at).start, str(p.service))] += units
    return totals


async def test_kill_minus_nine_while_rating_100k_bills_exactly_the_valid_events(stack: Launcher, live) -> None:
    population = Population.of(500, prefix=unique("drill"))
    prefix = unique("k")
    valid = list(population.usage(100_000, id_prefix=prefix))
    bad = [b.record for a in population.account_ids[:20] for b in bad_usage_records(a)]
    records = [record_of(e) for e in valid]
    for i, record in enumerate(bad):  # spread the bad ones through the stream
        records.insert(i * 997 % len(records), record)
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()])
    await eventually(
        lambda: fetchval(
            dsn, "SELECT count(*) FROM accounts WHERE account_id LIKE $1", population.account_ids[0][:-6] + "%"
        ),
        lambda n: n == 500,
    )

    await publish(live.require_bootstrap(), records)
    like = prefix + "-%"
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE event_id LIKE $1", like), lambda n: n >= 10_000
    )
    stack.stop_worker(0, kill=True)
    await asyncio.sleep(1)
    await asyncio.to_thread(stack.restart_worker, 0)
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE event_id LIKE $1", like),
        lambda n: n >= len(valid),
        timeout_s=180,
    )

    billed = {r["event_id"] for r in await fetch(dsn, "SELECT event_id FROM usage_events WHERE event_id LIKE $1", like)}
    assert billed == {e.event_id for e in valid}
    rows = await fetch(
        dsn,
        "SELECT account_id, cycle_start, service, billable_units FROM cycle_usage WHERE account_id = ANY($1::text[])",
        population.account_ids,
    )
    assert Counter({(r["account_id"], r["cycle_start"], r["service"]): r["billable_units"] for r in rows}) == _oracle(
        population, valid
    )
    keys = [a.encode() for a in population.account_ids[:20]] + [b"someone-else"]
    dead = await fetch(
        dsn,
        "SELECT original_value FROM dead_letters WHERE original_key = ANY($1::bytea[])"
        " AND source_topic = 'billing.usage.v1'",
        keys,
    )
    assert len([r for r in dead if bytes(r["original_value"]) in {b.value for b in bad}]) == len(bad)
