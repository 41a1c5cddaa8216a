"""The benchmark's traffic against the real broker: account openings, the usage backlog, the raw-consume
ceiling, and the steady-rate latency stream."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ops.bench.accounts import ANCHOR_DAY, plan_of
from ops.bench.events import UsageGenerator, latency_event_id
from ops.bench.progress import Meter
from ops.loadgen import Record, publish
from schemas import dump_event
from schemas import envelope as ev
from schemas.accounts import AccountOpened, Contact
from streams.topics import ACCOUNTS, USAGE

_LATENCY_TICK_S = 0.005


def openings(account_ids: list[str], opened_at: datetime) -> Iterator[Record]:
    """account.opened.v1 for every account, as ops/bench/accounts.py would store them."""
    for i, account_id in enumerate(account_ids):
        event = ev.AccountOpenedEvent(
            event_id=f"open-{account_id}", source="crm/onboarding", occurred_at=opened_at, schema_version=1,
            type="account.opened.v1",
            payload=AccountOpened(
                account_id=account_id, plan_id=plan_of(i), billing_anchor_day=ANCHOR_DAY,
                currency="EUR", jurisdiction="DE", contact=Contact(name=f"Customer {i}", email=f"c{i}@example.com"),
                opened_at=opened_at,
            ),
        )  # fmt: skip
        yield Record(ACCOUNTS.name, account_id.encode(), dump_event(event))


async def publish_records(bootstrap: str, records: Iterator[Record], total: int, label: str) -> float:
    """Publish with acks=all; returns the seconds it took."""
    meter = Meter(label, total)
    await publish(bootstrap, records, on_sent=meter.add)
    return meter.done()


def usage_records(generator: UsageGenerator, count: int, id_prefix: str) -> Iterator[Record]:
    for key, value in generator.stream(count, id_prefix):
        yield Record(USAGE.name, key, value)


async def raw_consume(bootstrap: str, expected: int) -> dict[str, float]:
    """The ceiling: a plain aiokafka getmany loop that reads the usage topic and JSON-decodes every value.

    Timed from the first fetched batch to the last, so the group join is not in it (as in the Faust baseline).
    """
    consumer = AIOKafkaConsumer(
        USAGE.name, bootstrap_servers=bootstrap, group_id=f"bench-raw-{os.getpid()}-{time.time_ns()}",
        enable_auto_commit=False, auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    meter = Meter("raw consume+decode", expected)
    seen, first_batch, started = 0, 0, 0.0
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            count = 0
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                count += len(records)
            if count and not started:
                started, first_batch = time.perf_counter(), count
            seen += count
            meter.set(seen)
    finally:
        await consumer.stop()
    seconds = time.perf_counter() - started
    meter.done()
    return {"events": seen, "seconds": seconds, "eps": (seen - first_batch) / seconds}


@dataclass(frozen=True)
class Sent:
    published_at: float  # wall-clock seconds when handed to the producer
    partition: int
    offset: int


async def steady_stream(bootstrap: str, generator: UsageGenerator, rate: int, seconds: float) -> list[Sent]:
    """Publish at a steady `rate` for `seconds`; every event id carries its publish time (µs)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, max_batch_size=256 * 1024)
    await producer.start()
    total = int(rate * seconds)
    meter = Meter(f"steady {rate:,}/s", total)
    pending: list[tuple[float, asyncio.Future]] = []
    try:
        started = time.monotonic()
        while len(pending) < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while len(pending) < due:
                now = time.time()
                n = len(pending)
                key, value = generator.one(latency_event_id(n, int(now * 1_000_000)), f"cdr-lat-{n:08d}")
                pending.append((now, await producer.send(USAGE.name, value, key=key)))
            meter.set(len(pending))
            await asyncio.sleep(_LATENCY_TICK_S)
        sent = [Sent(at, (m := await future).partition, m.offset) for at, future in pending]
    finally:
        await producer.stop()
    meter.done()
    return sent
