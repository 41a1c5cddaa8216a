"""A worker killed with kill -9 before any offset of its partitions is committed: after the restart every event
on those partitions still takes effect exactly once (nothing accepted is lost, nothing is counted twice).

The case needs a consumer group with no committed offset at all, which the session stack cannot promise (other
tests commit on the same topics), so this module starts its own small stack: embedded broker, PostgreSQL and two
workers in a fresh group. Worker 0 is killed once the first counts are stored (before Faust's first commit) and
restarted at once, so its partitions go straight back to it still uncommitted. Without the seek in src/billing/entrypoints/worker/app.py
(_ConsumerThread) this failed 3 runs of 3: the records fetched during the table recovery were dropped and never
read again, and the count stayed short of 1500."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from billing.care.rules.queue_metrics import window_start
from billing.contracts import envelope as ev
from billing.contracts.tasks import TaskKind, TaskRouted, Tier
from billing.entrypoints.cli.observe import committed_offsets
from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.platform.topics import TASK_EVENTS
from tests.integration.conftest import WORKERS, own_stack
from tests.integration.helpers import eventually, fetchval, unique

pytestmark = pytest.mark.integration

TASKS = 1500
COUNTED = "SELECT coalesce(sum((stats->>'entered')::int), 0) FROM queue_stats_windows WHERE queue = $1 AND window_s = 0"


@pytest.fixture(scope="module")
def fresh_stack() -> Iterator[Launcher]:
    with own_stack("crash") as launcher:  # a fresh consumer group: nothing committed anywhere yet
        yield launcher


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
        return json.loads(response.read().decode())


def _routed(queue: str, prefix: str) -> list[ev.Event]:
    """TASKS routed tasks over 60 accounts, so every partition gets a share (in multi-record batches)."""
    base = window_start(datetime.now(UTC) - timedelta(minutes=40), 300)
    return [
        ev.TaskRoutedEvent(
            event_id=f"{prefix}-t{i}:routed",
            source="care/queues",
            occurred_at=base + timedelta(seconds=i % 600),
            schema_version=1,
            type="task.routed.v1",
            payload=TaskRouted(
                task_id=f"{prefix}-t{i}",
                account_id=f"{prefix}-acc-{i % 60}",
                queue=queue,
                kind=TaskKind.CALL,
                tier=Tier.FRONTLINE,
                priority=1,
                reason="other",
                rule="default",
            ),
        )
        for i in range(TASKS)
    ]


async def test_kill_before_the_first_offset_commit_loses_and_doubles_nothing(fresh_stack: Launcher) -> None:
    live = fresh_stack.settings
    queue, prefix = unique("qc"), unique("qct")
    events = _routed(queue, prefix)
    half = len(events) // 2
    assert set((await committed_offsets(live, TASK_EVENTS)).values()) == {
        None
    }  # a fresh group: nothing committed anywhere

    # Half the events; once the first counts are stored (well before Faust's first commit, 2.8 s), kill -9.
    await publish(live.require_bootstrap(), [record_of(e) for e in events[:half]])
    await eventually(lambda: fetchval(live.require_database_url(), COUNTED, queue), lambda n: n > 0)
    fresh_stack.stop_worker(0, kill=True)
    assert None in (await committed_offsets(live, TASK_EVENTS)).values(), (
        "the kill came after the first commits: not this test's case"
    )
    # Back before the session timeout ends: the rebalance that drops the dead member hands its partitions, still
    # without a committed offset, straight to the restarted worker (not to the survivor, which would commit them).
    await asyncio.to_thread(fresh_stack.restart_worker, 0)
    await publish(live.require_bootstrap(), [record_of(e) for e in events[half:]])

    url = f"http://127.0.0.1:{live.worker_web_port}/queues/metrics"
    await eventually(
        lambda: asyncio.to_thread(_get_json, url),
        lambda r: queue in r["queues"] and r["queues"][queue]["entered"] >= TASKS,
        timeout_s=120,
    )
    # Every partition has committed past its events, so no replay is still to come that could double a count.
    await eventually(
        lambda: committed_offsets(live, TASK_EVENTS), lambda offsets: None not in offsets.values(), timeout_s=60
    )
    await asyncio.sleep(3)
    for index in range(WORKERS):
        report = await asyncio.to_thread(_get_json, f"http://127.0.0.1:{live.worker_web_port + index}/queues/metrics")
        assert report["queues"][queue]["entered"] == TASKS  # each routed event once: 1500
        assert sum(w["entered"] for w in report["queues"][queue]["windows"]) == TASKS
