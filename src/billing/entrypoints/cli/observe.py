"""Waiting for and reading back what the workers did: row counts in PostgreSQL, records on output topics.

Shared by the demo, the tests and the benchmarks, so all three judge a run the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from billing.platform.settings import Settings
from billing.platform.topics import DEAD_LETTERS, TopicSpec


class NotReached(AssertionError):
    pass


async def table_counts(conn: asyncpg.Connection, tables: list[str]) -> dict[str, int]:
    # Table names come from our code, never from input.
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def wait_for_counts(
    dsn: str,
    expected: Mapping[str, int],
    progress: Callable[[dict[str, int]], None] | None = None,
    timeout_s: float = 60,
) -> dict[str, int]:
    """Poll until every table holds at least the expected rows; raise NotReached with the shortfall."""
    conn = await asyncpg.connect(dsn)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            counts = await table_counts(conn, list(expected))
            if progress:
                progress(counts)
            if all(counts[t] >= n for t, n in expected.items()):
                return counts
            if time.monotonic() > deadline:
                short = {t: f"{counts[t]}/{n}" for t, n in expected.items() if counts[t] < n}
                raise NotReached(f"after {timeout_s:.0f} s still short: {short}")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def read_topic(bootstrap: str, topic: str, at_least: int, timeout_s: float = 30) -> list[dict]:
    """Read a topic from the beginning (no consumer group) until `at_least` records or the timeout."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or await _parts(consumer, topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[dict] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records += [orjson.loads(r.value) for rs in batch.values() for r in rs]
        # A short extra read, so that a duplicate beyond the expected count would be seen too.
        batch = await consumer.getmany(timeout_ms=500)
        records += [orjson.loads(r.value) for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()


async def _parts(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - first use of a topic by this client
    return consumer.partitions_for_topic(topic) or set()


async def count_dead_letter_topic(bootstrap: str, expected: int, timeout_s: float = 30) -> int:
    return len(await read_topic(bootstrap, DEAD_LETTERS.name, expected, timeout_s))


async def committed_offsets(settings: Settings, spec: TopicSpec) -> dict[int, int | None]:
    """The workers' group's committed offset per partition of a topic (None: never committed).

    A consumer given the group id that never subscribes only reads the offsets; it does not join the group."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.require_bootstrap(), group_id=settings.app_id, enable_auto_commit=False
    )
    await reader.start()
    try:
        partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions(settings))]
        return {tp.partition: await reader.committed(tp) for tp in partitions}
    finally:
        await reader.stop()
