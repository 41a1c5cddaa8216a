"""A topic the broker cannot take (here: a queue topic nobody created) does not hold up the other topics' events.

Seen in a whole-suite run: the first outbox row was for a queue configured on the fly, its send waited out the
producer's 40 s request timeout, and every row behind it, on every topic, waited too. Now each send waits at most
OUTBOX_SEND_TIMEOUT_S (5 s) and the failing topic is skipped with a backoff; its row stays in the outbox."""

from __future__ import annotations

import time
import urllib.request

import asyncpg
import orjson
import pytest

from billing.platform.topics import queue_topic
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


async def _enqueue(dsn: str, topic: str, event_id: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(
            "INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3) RETURNING id",
            topic,
            b"acc-outbox",
            orjson.dumps({"event_id": event_id}),
        )
    finally:
        await conn.close()


def _worker_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310 - loopback
        return response.read().decode()


async def test_a_row_for_a_missing_topic_does_not_delay_a_row_for_an_existing_one(live) -> None:
    dsn = live.require_database_url()
    # A name the broker refuses: its metadata never arrives, as for the topic of the incident (the embedded
    # broker creates a valid unknown topic on first use). Before the fix this row held the next for 40 s.
    ghost = f"billing.queue.{unique('ghost')} missing!.v1"
    stuck = await _enqueue(dsn, ghost, unique("ghost-evt"))
    started = time.monotonic()
    fine = await _enqueue(dsn, queue_topic("billing").name, unique("fine-evt"))  # created by `billing topics`
    await eventually(
        lambda: fetchval(dsn, "SELECT published_at IS NOT NULL FROM outbox WHERE id = $1", fine),
        lambda published: published,
        timeout_s=60,
    )
    waited = time.monotonic() - started
    # At most one send timeout (5 s) for the ghost's send, one for the batch's acknowledgements, and the poll.
    assert waited < 12, f"the existing topic's row waited {waited:.1f} s behind the missing topic's row"
    # The ghost's row is not dropped: it waits in the outbox, unpublished, and the relay's worker counts its
    # failed sends.
    assert await fetchval(dsn, "SELECT published_at IS NULL FROM outbox WHERE id = $1", stuck) is True
    ports = (live.worker_web_port, live.worker_web_port + 1)
    counted = [
        line
        for port in ports
        for line in _worker_metrics(port).splitlines()
        if line.startswith("billing_outbox_send_failures_total") and "missing!" in line
    ]
    assert counted, "no worker counted the failing topic's sends"
    # Rows for such a topic are retried for ever (with a backoff); this one is the test's own, so it goes.
    await fetchval(dsn, "DELETE FROM outbox WHERE id = $1 RETURNING id", stuck)


async def test_a_row_the_broker_refuses_is_parked_and_its_topic_goes_on(live) -> None:
    """A row no broker takes (here 1.1 MB, over the producer's and the broker's 1 MiB limit) held its topic for
    ever: the relay keeps each topic in order and retried it first every time. Now, refused three times for what
    it is, it is parked (kept, counted, logged) and the rows behind it are published."""
    dsn = live.require_database_url()
    topic = queue_topic("billing").name  # created by `billing topics`; no worker consumes it
    conn = await asyncpg.connect(dsn)
    try:
        huge = await conn.fetchval(
            "INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3) RETURNING id",
            topic,
            b"acc-huge",
            b"x" * 1_100_000,
        )
    finally:
        await conn.close()
    behind = await _enqueue(dsn, topic, unique("behind-evt"))
    await eventually(
        lambda: fetchval(dsn, "SELECT published_at IS NOT NULL FROM outbox WHERE id = $1", behind),
        lambda published: published,
        timeout_s=90,
    )
    parked = await fetch(dsn, "SELECT attempts, last_error, parked_at, published_at FROM outbox WHERE id = $1", huge)
    assert parked[0]["parked_at"] is not None and parked[0]["published_at"] is None
    assert parked[0]["attempts"] == 3 and "MessageSizeTooLarge" in parked[0]["last_error"]
    ports = (live.worker_web_port, live.worker_web_port + 1)
    counted = [
        line
        for port in ports
        for line in _worker_metrics(port).splitlines()
        if line.startswith("billing_outbox_parked_total") and topic in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) >= 1, "no worker counted the parked row"
    await fetchval(dsn, "DELETE FROM outbox WHERE id = $1 RETURNING id", huge)  # the test's own row
