"""Every event type published to its topic on the real broker has its effect in PostgreSQL; bad input is
dead-lettered once with its reason and position, and never stops the valid events around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from ops.loadgen import Population, Record, bad_usage_records, publish, record_of
from schemas import DeadLetter, dump_event
from schemas import envelope as ev
from schemas.calls import CallAnswered
from schemas.disputes import DisputeOutcome, DisputeResolved
from schemas.money import Money
from streams.topics import DEAD_LETTERS, USAGE
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


def _resolution(opened: ev.DisputeOpenedEvent) -> ev.DisputeResolvedEvent:
    p = opened.payload
    return ev.DisputeResolvedEvent(
        event_id=f"res-{p.dispute_id}", source="care/desk", occurred_at=opened.occurred_at + timedelta(hours=1),
        schema_version=1, type="dispute.resolved.v1",
        payload=DisputeResolved(account_id=p.account_id, dispute_id=p.dispute_id, invoice_id=p.invoice_id,
                                outcome=DisputeOutcome.CREDITED, credit=Money(amount_minor=200, currency="EUR"),
                                reason="Charge confirmed wrong"),
    )  # fmt: skip


async def test_each_event_type_reaches_its_table(live) -> None:
    population = Population.of(1, prefix=unique("flow"))
    account = population.account_ids[0]
    journey = list(population.workflow())
    opened = next(e for e in journey if e.type == "dispute.opened.v1")
    events = [*population.openings(), *population.usage(3, id_prefix=unique("u")), *journey, _resolution(opened)]

    await publish(live.require_bootstrap(), [record_of(e) for e in events])

    dsn = live.require_database_url()
    await eventually(lambda: fetchval(dsn, "SELECT status FROM disputes WHERE account_id = $1", account),
                     lambda status: status == "credited")  # fmt: skip
    assert await fetchval(dsn, "SELECT status FROM accounts WHERE account_id = $1", account) == "active"
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account),
                     lambda n: n == 3)  # fmt: skip
    assert await fetchval(dsn, "SELECT total_minor FROM invoices_issued WHERE account_id = $1", account) == 2974
    call = (await fetch(dsn, "SELECT * FROM calls WHERE account_id = $1", account))[0]
    assert (call["agent_id"], call["outcome"]) == ("agent-1", "resolved")
    assert call["answered_at"] is not None and call["ended_at"] is not None
    dispute = (await fetch(dsn, "SELECT * FROM disputes WHERE account_id = $1", account))[0]
    assert (dispute["amount_minor"], dispute["credit_minor"]) == (500, 200)
    grant = (await fetch(dsn, "SELECT * FROM discount_grants WHERE account_id = $1", account))[0]
    assert (grant["kind"], grant["amount_minor"], grant["granted_by"]) == ("fixed_next_invoice", 500, "agent-1")


async def test_bad_usage_goes_to_dead_letters_once_and_neighbours_are_processed(live) -> None:
    population = Population.of(1, prefix=unique("dlq"))
    account = population.account_ids[0]
    good = list(population.usage(6, id_prefix=unique("ok")))
    bad = bad_usage_records(account)
    # Interleave: each bad record sits between valid ones on the same partition (same key).
    records: list[Record] = [record_of(e) for e in population.openings()]
    for i, event in enumerate(good):
        records.append(record_of(event))
        if i < len(bad):
            records.append(bad[i].record)
    await publish(live.require_bootstrap(), records)

    dsn = live.require_database_url()
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account),
                     lambda n: n == len(good))  # fmt: skip
    rows = await eventually(
        lambda: fetch(dsn, "SELECT * FROM dead_letters WHERE original_key = $1 OR original_key = $2 ORDER BY \"offset\"",
                      account.encode(), b"someone-else"),
        lambda rs: len([r for r in rs if _is_ours(r, bad)]) == len(bad),
    )  # fmt: skip
    ours = [r for r in rows if _is_ours(r, bad)]
    assert sorted(r["error_kind"] for r in ours) == sorted(b.expected_kind for b in bad)
    assert all(r["source_topic"] == USAGE.name for r in ours)
    reasons = " | ".join(r["reason"] for r in ours)
    for fragment in ("not valid JSON", "payload.quantity", "surprise", "record key"):
        assert fragment in reasons

    positions = {(r["partition"], r["offset"]) for r in ours}

    def mine(letters: list[dict]) -> list[dict]:
        return [x for x in letters if (x["source_partition"], x["source_offset"]) in positions
                and x["source_topic"] == USAGE.name]  # fmt: skip

    # The rows are in PostgreSQL; the outbox publishes them a moment later, among every other test's letters.
    letters = await read_dead_letters(live.require_bootstrap(), until=lambda ls: len(mine(ls)) >= len(bad))
    on_topic = mine(letters)
    assert len(on_topic) == len(bad), "each bad record is on the dead-letter topic exactly once"
    garbage = next(x for x in on_topic if x["error_kind"] == "undecodable")
    assert DeadLetter.model_validate(garbage).original_value() == b"\x00\xffnot json at all"


def _is_ours(row, bad) -> bool:
    return bytes(row["original_value"]) in {b.record.value for b in bad}


async def test_duplicates_and_replays_have_one_effect(live) -> None:
    population = Population.of(1, prefix=unique("dup"))
    account = population.account_ids[0]
    usage = list(population.usage(4, id_prefix=unique("d")))
    opening = list(population.openings())
    records = [record_of(e) for e in [*opening, *usage, *usage, *opening, usage[0]]]
    await publish(live.require_bootstrap(), records)

    dsn = live.require_database_url()
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account),
                     lambda n: n == 4)  # fmt: skip
    # The repeated opening carries the same event id: a duplicate, not a second "already open" rejection.
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM accounts WHERE account_id = $1", account),
                     lambda n: n == 1)  # fmt: skip
    assert await fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()) == 0


async def test_business_rule_refusal_and_wrong_topic_are_dead_lettered(live) -> None:
    account = unique("rule")
    stray_answer = ev.CallAnsweredEvent(
        event_id=unique("ans"), source="care/acd", occurred_at=Population.of(1).start, schema_version=1,
        type="call.answered.v1", payload=CallAnswered(account_id=account, call_id=unique("c"), agent_id="agent-9"),
    )  # fmt: skip
    wrong_topic = Record(USAGE.name, account.encode(), dump_event(stray_answer))
    await publish(live.require_bootstrap(), [record_of(stray_answer), wrong_topic])

    dsn = live.require_database_url()
    rows = await eventually(
        lambda: fetch(dsn, "SELECT error_kind, reason, source_topic FROM dead_letters WHERE original_key = $1",
                      account.encode()),
        lambda rs: len(rs) == 2,
    )  # fmt: skip
    kinds = {r["source_topic"]: (r["error_kind"], r["reason"]) for r in rows}
    assert kinds["billing.customer-calls.v1"][0] == "rejected"
    assert "before it started" in kinds["billing.customer-calls.v1"][1]
    assert kinds[USAGE.name] == ("wrong_topic", f"event type call.answered.v1 does not belong on topic {USAGE.name}")


async def test_dead_letter_values_are_self_describing(live) -> None:
    letters = await read_dead_letters(live.require_bootstrap(), until=bool)
    assert letters, "earlier tests produced dead letters"
    for letter in letters:
        assert set(letter) >= {"source_topic", "source_partition", "source_offset", "reason", "error_kind",
                               "original_value_b64", "failed_at"}  # fmt: skip
        assert orjson.dumps(letter)  # plain JSON, readable by any consumer


async def read_dead_letters(bootstrap: str, until: Callable[[list[dict]], bool], timeout_s: float = 60) -> list[dict]:
    """Every record of the dead-letter topic from the beginning, read until ``until(records)`` holds and then on
    to the end offsets of that moment (so a duplicate already published is seen too).

    The topic is shared by the whole session: other tests' letters come first, in more than one fetch, and ours
    reach it only after the outbox relay publishes them; reading "the first batch or two" misses them.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - first use of the topic by this client
        partitions = [TopicPartition(DEAD_LETTERS.name, p) for p in consumer.partitions_for_topic(DEAD_LETTERS.name)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[dict] = []
        deadline = time.monotonic() + timeout_s
        while not until(records):
            assert time.monotonic() < deadline, f"not on the dead-letter topic within {timeout_s} s"
            records += await _next_batch(consumer)
        ends = await consumer.end_offsets(partitions)
        while await _behind(consumer, ends):
            assert time.monotonic() < deadline, "the dead-letter topic was not read to its end"
            records += await _next_batch(consumer)
        return records
    finally:
        await consumer.stop()


async def _next_batch(consumer: AIOKafkaConsumer) -> list[dict]:
    batch = await consumer.getmany(timeout_ms=200)
    return [orjson.loads(r.value) for rs in batch.values() for r in rs]


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False
