"""Every event type published to its topic on the real broker has its effect in PostgreSQL, once: duplicates,
replays and a call detail record re-sent under a new event id change nothing. Bad input:
tests/integration/test_dead_letters.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.contracts import envelope as ev
from billing.contracts.disputes import DisputeOutcome, DisputeResolved
from billing.contracts.money import Money
from billing.entrypoints.stack.loadgen import Population, publish, record_of
from billing.platform.topics import USAGE
from tests.integration.helpers import eventually, fetch, fetchval, http_get, metric_value, unique

pytestmark = pytest.mark.integration


def _resolution(opened: ev.DisputeOpenedEvent) -> ev.DisputeResolvedEvent:
    p = opened.payload
    return ev.DisputeResolvedEvent(
        event_id=f"res-{p.dispute_id}",
        source="care/desk",
        occurred_at=opened.occurred_at + timedelta(hours=1),
        schema_version=1,
        type="dispute.resolved.v1",
        payload=DisputeResolved(
            account_id=p.account_id,
            dispute_id=p.dispute_id,
            invoice_id=p.invoice_id,
            outcome=DisputeOutcome.CREDITED,
            credit=Money(amount_minor=200, currency="EUR"),
            reason="Charge confirmed wrong",
        ),
    )


async def test_each_event_type_reaches_its_table(live) -> None:
    population = Population.of(1, prefix=unique("flow"))
    account = population.account_ids[0]
    journey = list(population.workflow())
    opened = next(e for e in journey if e.type == "dispute.opened.v1")
    events = [*population.openings(), *population.usage(3, id_prefix=unique("u")), *journey, _resolution(opened)]

    await publish(live.require_bootstrap(), [record_of(e) for e in events])

    dsn = live.require_database_url()
    await eventually(
        lambda: fetchval(dsn, "SELECT status FROM disputes WHERE account_id = $1", account),
        lambda status: status == "credited",
    )
    assert await fetchval(dsn, "SELECT status FROM accounts WHERE account_id = $1", account) == "active"
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account), lambda n: n == 3
    )
    # Each topic has its own consumers: the dispute's outcome says nothing of how far the others are, so each
    # table is read once its projection has caught up with this account's last event on that topic.
    total = await eventually(
        lambda: fetchval(dsn, "SELECT total_minor FROM invoices_issued WHERE account_id = $1", account),
        lambda value: value is not None,
    )
    assert total == 2974
    calls = await eventually(
        lambda: fetch(dsn, "SELECT * FROM calls WHERE account_id = $1", account),
        lambda rows: len(rows) > 0 and rows[0]["ended_at"] is not None,  # call.ended is the call's last event
    )
    call = calls[0]
    assert (call["agent_id"], call["outcome"]) == ("agent-1", "resolved")
    assert call["answered_at"] is not None and call["ended_at"] is not None
    dispute = (await fetch(dsn, "SELECT * FROM disputes WHERE account_id = $1", account))[0]
    assert (dispute["amount_minor"], dispute["credit_minor"]) == (500, 200)
    grants = await eventually(
        lambda: fetch(dsn, "SELECT * FROM discount_grants WHERE account_id = $1", account), lambda rows: len(rows) > 0
    )
    grant = grants[0]
    assert (grant["kind"], grant["amount_minor"], grant["granted_by"]) == ("fixed_next_invoice", 500, "agent-1")


async def test_duplicates_and_replays_have_one_effect(live) -> None:
    population = Population.of(1, prefix=unique("dup"))
    account = population.account_ids[0]
    usage = list(population.usage(4, id_prefix=unique("d")))
    opening = list(population.openings())
    records = [record_of(e) for e in [*opening, *usage, *usage, *opening, usage[0]]]
    await publish(live.require_bootstrap(), records)

    dsn = live.require_database_url()
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account), lambda n: n == 4
    )
    # The repeated opening carries the same event id: a duplicate, not a second "already open" rejection.
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM accounts WHERE account_id = $1", account), lambda n: n == 1
    )
    assert await fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()) == 0


async def _duplicates_counted(live) -> float:
    """billing_events_duplicate_total of the usage topic, over both workers (each counts its own partitions)."""
    ports = (live.worker_web_port, live.worker_web_port + 1)
    return sum(
        metric_value(
            http_get(f"http://127.0.0.1:{port}/metrics")[1], "billing_events_duplicate_total", topic=USAGE.name
        )
        for port in ports
    )


async def test_a_call_detail_record_re_sent_under_a_new_event_id_is_billed_once(live) -> None:
    """Mediation re-sends a record after a retry under a new event id: same source and record id, billed once,
    whether the copy arrives in the same batch or long after the first was billed."""
    population = Population.of(1, prefix=unique("cdr"))
    account = population.account_ids[0]
    first, marker, late_marker = population.usage(3, id_prefix=unique("m"))
    retry = first.model_copy(update={"event_id": unique("retry")})
    late_retry = first.model_copy(update={"event_id": unique("late-retry")})
    duplicates_before = await _duplicates_counted(live)
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(e) for e in [*population.openings(), first, retry, marker]])
    # The marker follows both copies on the account's partition: once it is stored, both copies were handled.
    stored = "SELECT count(*) FROM usage_events WHERE event_id = $1"
    await eventually(lambda: fetchval(dsn, stored, marker.event_id), lambda n: n == 1)
    await publish(live.require_bootstrap(), [record_of(e) for e in [late_retry, late_marker]])
    await eventually(lambda: fetchval(dsn, stored, late_marker.event_id), lambda n: n == 1)

    rows = await fetch(
        dsn,
        "SELECT event_id FROM usage_events WHERE source = $1 AND record_id = $2",
        first.source,
        first.payload.record_id,
    )
    assert [r["event_id"] for r in rows] == [first.event_id], "the re-sent record must not be billed again"
    # Three records billed (the first copy and two markers): the cycle totals count three events, not five.
    assert await fetchval(dsn, "SELECT sum(events) FROM cycle_usage WHERE account_id = $1", account) == 3
    assert await fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()) == 0
    assert await eventually(lambda: _duplicates_counted(live), lambda n: n >= duplicates_before + 2)
