"""Bad input on the real broker is dead-lettered once, with its reason and position, and never stops the valid
events around it; the letters on the topic describe themselves and stay bounded. The tests run in this order:
the self-describing check reads the letters the ones before it produced."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from billing.contracts import DeadLetter, dump_event
from billing.contracts import envelope as ev
from billing.contracts.calls import CallAnswered
from billing.entrypoints.stack.loadgen import Population, Record, bad_usage_records, publish, record_of
from billing.platform.topics import DEAD_LETTERS, USAGE
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


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
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account),
        lambda n: n == len(good),
    )
    rows = await eventually(
        lambda: fetch(
            dsn,
            'SELECT * FROM dead_letters WHERE original_key = $1 OR original_key = $2 ORDER BY "offset"',
            account.encode(),
            b"someone-else",
        ),
        lambda rs: len([r for r in rs if _is_ours(r, bad)]) == len(bad),
    )
    ours = [r for r in rows if _is_ours(r, bad)]
    assert sorted(r["error_kind"] for r in ours) == sorted(b.expected_kind for b in bad)
    assert all(r["source_topic"] == USAGE.name for r in ours)
    reasons = " | ".join(r["reason"] for r in ours)
    for fragment in ("not valid JSON", "payload.quantity", "surprise", "record key"):
        assert fragment in reasons

    positions = {(r["partition"], r["offset"]) for r in ours}

    def mine(letters: list[dict]) -> list[dict]:
        return [
            x
            for x in letters
            if (x["source_partition"], x["source_offset"]) in positions and x["source_topic"] == USAGE.name
        ]

    # The rows are in PostgreSQL; the outbox publishes them a moment later, among every other test's letters.
    letters = await read_dead_letters(live.require_bootstrap(), until=lambda ls: len(mine(ls)) >= len(bad))
    on_topic = mine(letters)
    assert len(on_topic) == len(bad), "each bad record is on the dead-letter topic exactly once"
    garbage = next(x for x in on_topic if x["error_kind"] == "undecodable")
    assert DeadLetter.model_validate(garbage).original_value() == b"\x00\xffnot json at all"


def _is_ours(row, bad) -> bool:
    return bytes(row["original_value"]) in {b.record.value for b in bad}


async def test_business_rule_refusal_and_wrong_topic_are_dead_lettered(live) -> None:
    account = unique("rule")
    stray_answer = ev.CallAnsweredEvent(
        event_id=unique("ans"),
        source="care/acd",
        occurred_at=Population.of(1).start,
        schema_version=1,
        type="call.answered.v1",
        payload=CallAnswered(account_id=account, call_id=unique("c"), agent_id="agent-9"),
    )
    wrong_topic = Record(USAGE.name, account.encode(), dump_event(stray_answer))
    await publish(live.require_bootstrap(), [record_of(stray_answer), wrong_topic])

    dsn = live.require_database_url()
    rows = await eventually(
        lambda: fetch(
            dsn, "SELECT error_kind, reason, source_topic FROM dead_letters WHERE original_key = $1", account.encode()
        ),
        lambda rs: len(rs) == 2,
    )
    kinds = {r["source_topic"]: (r["error_kind"], r["reason"]) for r in rows}
    assert kinds["billing.customer-calls.v1"][0] == "rejected"
    assert "before it started" in kinds["billing.customer-calls.v1"][1]
    assert kinds[USAGE.name] == ("wrong_topic", f"event type call.answered.v1 does not belong on topic {USAGE.name}")


async def test_dead_letter_values_are_self_describing(live) -> None:
    letters = await read_dead_letters(live.require_bootstrap(), until=bool)
    assert letters, "earlier tests produced dead letters"
    for letter in letters:
        assert set(letter) >= {
            "source_topic",
            "source_partition",
            "source_offset",
            "reason",
            "error_kind",
            "original_value_b64",
            "failed_at",
        }
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


async def test_a_nul_byte_in_a_usage_field_is_a_dead_letter_and_the_partition_flows(live) -> None:
    """JSON can carry \\u0000 in a string; PostgreSQL cannot store it. It stalled the partition (every retry of the
    batch failed again); now it is refused as invalid and the records around it are billed."""
    population = Population.of(1, prefix=unique("nul"))
    account = population.account_ids[0]
    good = list(population.usage(4, id_prefix=unique("n")))
    body = good[0].model_dump(mode="json")
    bad = {
        **body,
        "event_id": unique("nul-evt"),
        "source": "mediation/switch\u00001",
        "payload": {**body["payload"], "record_id": unique("nul-cdr")},
    }
    records = [
        *(record_of(e) for e in population.openings()),
        record_of(good[0]),
        record_of(good[1]),
        Record(USAGE.name, account.encode(), orjson.dumps(bad)),
        record_of(good[2]),
        record_of(good[3]),
    ]
    await publish(live.require_bootstrap(), records)

    dsn = live.require_database_url()
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE account_id = $1", account),
        lambda n: n == len(good),
    )
    letters = await eventually(
        lambda: fetch(
            dsn, "SELECT error_kind, reason, original_value FROM dead_letters WHERE original_key = $1", account.encode()
        ),
        lambda rows: len(rows) == 1,
    )
    assert letters[0]["error_kind"] == "invalid"
    assert "source: text must not contain a NUL character" in letters[0]["reason"]
    assert bytes(letters[0]["original_value"]) == orjson.dumps(bad)


async def test_a_huge_bad_record_is_kept_whole_and_published_as_a_bounded_letter(live) -> None:
    """A 900 kB bad record made a dead letter larger than the broker takes; the outbox kept retrying it and, in
    topic order, held every later letter back. Now PostgreSQL keeps the whole record and the topic gets an excerpt
    with the size, the SHA-256 and the row's id, and the next letter follows it."""
    account = unique("huge")
    huge = b"\x00not json at all " + bytes(range(256)) * 3516  # 900,113 bytes
    small = b"\x00also not json " + account.encode()
    await publish(
        live.require_bootstrap(),
        [Record(USAGE.name, account.encode(), huge), Record(USAGE.name, account.encode(), small)],
    )
    dsn = live.require_database_url()
    rows = await eventually(
        lambda: fetch(
            dsn,
            'SELECT id, partition, "offset", original_value FROM dead_letters WHERE original_key = $1'
            ' ORDER BY "offset"',
            account.encode(),
        ),
        lambda found: len(found) == 2,
    )
    assert [bytes(r["original_value"]) for r in rows] == [huge, small]
    positions = {(r["partition"], r["offset"]): r["id"] for r in rows}

    def ours(letters: list[dict]) -> dict[int, DeadLetter]:
        return {
            x["source_offset"]: DeadLetter.model_validate(x)
            for x in letters
            if x["source_topic"] == USAGE.name and (x["source_partition"], x["source_offset"]) in positions
        }

    letters = ours(await read_dead_letters(live.require_bootstrap(), until=lambda ls: len(ours(ls)) == 2))
    big, little = (letters[r["offset"]] for r in rows)
    from billing.contracts.dead_letters import VALUE_EXCERPT_MAX  # (here: the code before the fix had no such bound)

    assert big.truncated and big.original_value() == huge[:VALUE_EXCERPT_MAX]
    assert (big.original_value_size, big.original_value_sha256) == (len(huge), hashlib.sha256(huge).hexdigest())
    assert big.stored_id == rows[0]["id"]
    assert not little.truncated and little.original_value() == small and little.stored_id == rows[1]["id"]
