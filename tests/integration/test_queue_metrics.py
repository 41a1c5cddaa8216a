"""Queue service metrics on the real stack: a known set of task events, spread over partitions that the two
workers share, re-sent copies and a broken record among them, gives the hand-computed figures on both workers'
JSON endpoint and Prometheus text; a worker killed with kill -9 mid-stream loses and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from billing.care.rules.queue_metrics import window_start
from billing.contracts import envelope as ev
from billing.contracts.tasks import (
    CancelCause,
    HoldoutArm,
    Practice,
    RequeueCause,
    TaskAccepted,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOutcome,
    TaskRequeued,
    TaskRouted,
    Tier,
)
from billing.entrypoints.cli.observe import committed_offsets
from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Record, publish, record_of
from billing.platform.topics import TASK_EVENTS
from tests.integration.conftest import WORKERS
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration

WINDOW_S = 300  # the default QUEUE_METRICS_WINDOW_S
ANSWER_WAITS_S = [5, 10, 15, 19, 20, 25, 60]  # tasks 0-6
HANDLE_S = [60, 120, 180, 240, 300]  # tasks 0-4
ABANDON_WAITS_S = {7: 8, 8: 40}  # tasks 7 and 8 hang up; task 9 is still waiting


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
        return response.read().decode()


def _env(event_id: str, at: datetime) -> dict[str, object]:
    return {"event_id": event_id, "source": "care/queues", "occurred_at": at, "schema_version": 1}


def _journey(queue: str, prefix: str, base: datetime) -> tuple[list[ev.Event], dict[int, str]]:
    """Ten tasks, task i routed at base + i s in account <prefix>-i (so they spread over the partitions)."""
    events: list[ev.Event] = []
    accounts = {i: f"{prefix}-acc-{i}" for i in range(10)}
    for i, account in accounts.items():
        task = {"task_id": f"{prefix}-t{i}", "account_id": account, "queue": queue}
        routed_at = base + timedelta(seconds=i)
        events.append(
            ev.TaskRoutedEvent(
                **_env(f"{prefix}-t{i}:routed", routed_at),
                type="task.routed.v1",
                payload=TaskRouted(
                    **task, kind=TaskKind.CALL, tier=Tier.FRONTLINE, priority=10, reason="bill_question", rule="default"
                ),
            )
        )
        if i < len(ANSWER_WAITS_S):
            wait = ANSWER_WAITS_S[i]
            accepted_at = routed_at + timedelta(seconds=wait)
            events.append(
                ev.TaskAcceptedEvent(
                    **_env(f"{prefix}-t{i}:accepted:1", accepted_at),
                    type="task.accepted.v1",
                    payload=TaskAccepted(**task, agent_id="agent-1", waited_ms=wait * 1000),
                )
            )
            if i < len(HANDLE_S):
                events.append(
                    ev.TaskCompletedEvent(
                        **_env(f"{prefix}-t{i}:completed", accepted_at + timedelta(seconds=HANDLE_S[i])),
                        type="task.completed.v1",
                        payload=TaskCompleted(
                            **task,
                            agent_id="agent-1",
                            agent_tier=Tier.FRONTLINE,
                            kind=TaskKind.CALL,
                            outcome=TaskOutcome.RESOLVED,
                            practice=Practice.EXPLANATION_ONLY,
                            arm=HoldoutArm.NOT_ELIGIBLE,
                            discount_minor=0,
                            currency="EUR",
                            waited_ms=wait * 1000,
                            handle_ms=HANDLE_S[i] * 1000,
                            opened_at=routed_at,
                        ),
                    )
                )
        if i in ABANDON_WAITS_S:
            wait = ABANDON_WAITS_S[i]
            events.append(
                ev.TaskCancelledEvent(
                    **_env(f"{prefix}-t{i}:cancelled", routed_at + timedelta(seconds=wait)),
                    type="task.cancelled.v1",
                    payload=TaskCancelled(**task, cause=CancelCause.CALLER_ABANDONED, waited_ms=wait * 1000),
                )
            )
    # A requeue moves no counter.
    events.append(
        ev.TaskRequeuedEvent(
            **_env(f"{prefix}-t9:requeued:1", base + timedelta(seconds=30)),
            type="task.requeued.v1",
            payload=TaskRequeued(
                task_id=f"{prefix}-t9", account_id=accounts[9], queue=queue, cause=RequeueCause.LEASE_EXPIRED
            ),
        )
    )
    return events, accounts


async def _insert_waiting_task(dsn: str, prefix: str, account: str, queue: str, routed_at: datetime) -> None:
    await fetch(
        dsn,
        "INSERT INTO tasks (task_id, kind, source_event_id, account_id, reason, rule, queue, eligible_queues, tier,"
        " static_priority, priority, state, routed_at) VALUES ($1, 'call', $2, $3, 'bill_question', 'default',"
        " $4, ARRAY[$4], 1, 10, 10, 'queued', $5)",
        f"{prefix}-t9",
        f"{prefix}-src-9",
        account,
        queue,
        routed_at,
    )


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_queue_metrics_match_the_hand_computed_figures_on_both_workers(stack: Launcher, live) -> None:
    queue, prefix = unique("qm"), unique("qmt")
    now = datetime.now(UTC)
    base = window_start(now - timedelta(minutes=20), WINDOW_S)  # every event lies well inside the retention
    events, accounts = _journey(queue, prefix, base)
    dsn = live.require_database_url()
    await _insert_waiting_task(dsn, prefix, accounts[9], queue, base + timedelta(seconds=9))

    resent = [record_of(e) for e in events if e.type == "task.accepted.v1"][:2]  # the outbox re-sending
    # A broken record after the copies on each of their partitions: once both are dead-lettered, the copies
    # have been handled too (one partition is handled in order), so a double count could not hide.
    broken = [Record(TASK_EVENTS.name, accounts[i].encode(), b'{"event_id": "half a record') for i in (0, 1)]
    await publish(live.require_bootstrap(), [*(record_of(e) for e in events), *resent, *broken])
    letters = await eventually(
        lambda: fetch(
            dsn,
            "SELECT error_kind FROM dead_letters WHERE source_topic = $1 AND original_key = ANY($2)",
            TASK_EVENTS.name,
            [accounts[0].encode(), accounts[1].encode()],
        ),
        lambda rows: len(rows) == 2,
    )
    assert {r["error_kind"] for r in letters} == {"undecodable"}

    url = f"http://127.0.0.1:{stack.settings.worker_web_port}/queues/metrics"
    counts = ("entered", "answered", "abandoned", "completed")
    report = await eventually(
        lambda: _json(url), lambda r: queue in r["queues"] and [r["queues"][queue][c] for c in counts] == [10, 7, 2, 5]
    )
    q = report["queues"][queue]
    # Within 20 s means wait <= 20 (src/billing/care/rules/service_level.py): 5, 10, 15, 19, 20 of the 7 answered.
    assert q["service_level"]["value"] == "0.7143"  # 5/7
    assert q["service_level"]["threshold_s"] == 20
    # SL2 adds the abandons: 5 answered within + 1 abandoned within (8 s; 40 s is not) over 7 + 2.
    assert q["service_level_with_abandons"]["value"] == "0.6667"  # 6/9
    assert q["average_speed_of_answer_s"] == "22.0000"  # (5+10+15+19+20+25+60) / 7 = 154 / 7
    assert q["abandonment_rate"] == "0.2000"  # 2 / 10
    assert q["average_handle_time_s"] == "180.0000"  # (60+120+180+240+300) / 5
    # Buckets (edges 0,5,10,20,30,45,60,...): 5 | 10 | 15,19,20 | 25 | - | 60
    assert q["wait_histogram"]["counts"] == [0, 1, 1, 3, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    assert q["waiting_now"] == 1
    expected_oldest = (datetime.now(UTC) - (base + timedelta(seconds=9))).total_seconds()
    assert abs(q["oldest_wait_s"] - expected_oldest) < 30
    # Windows: everything but task 4's completion (accepted at +24 s, handled 300 s: +324 s) is in the first.
    windows = [
        (w["window_start"], w["entered"], w["answered"], w["abandoned"], w["completed"], w["total_handle_s"])
        for w in q["windows"]
    ]
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert windows == [(iso(base), 10, 7, 2, 4, 600), (iso(base + timedelta(seconds=WINDOW_S)), 0, 0, 0, 1, 300)]

    # The cells came from several partitions (the two workers own two each) and every worker merges them all.
    partitions = await fetch(dsn, "SELECT DISTINCT source_partition FROM queue_stats_windows WHERE queue = $1", queue)
    assert len(partitions) >= 2
    for index in range(1, WORKERS):
        other = await _json(f"http://127.0.0.1:{stack.settings.worker_web_port + index}/queues/metrics")
        assert {k: v for k, v in other["queues"][queue].items() if k != "oldest_wait_s"} == {
            k: v for k, v in q.items() if k != "oldest_wait_s"
        }

    for index in range(WORKERS):
        text = _get(f"http://127.0.0.1:{stack.settings.worker_web_port + index}/metrics")
        assert _sample(text, "billing_queue_service_level", queue=queue, variant="SL", threshold_s="20") == 5 / 7
        assert _sample(text, "billing_queue_service_level", queue=queue, variant="SL2") == 6 / 9
        assert _sample(text, "billing_queue_average_speed_of_answer_seconds", queue=queue) == 22.0
        assert _sample(text, "billing_queue_abandonment_rate", queue=queue) == 0.2
        assert _sample(text, "billing_queue_average_handle_time_seconds", queue=queue) == 180.0
        assert _sample(text, "billing_queue_waiting", queue=queue) == 1.0
        assert _sample(text, "billing_queue_tasks_total", queue=queue, event="entered") == 10.0
        assert _sample(text, "billing_queue_answer_wait_seconds_bucket", queue=queue, le="20.0") == 5.0
        assert _sample(text, "billing_queue_answer_wait_seconds_bucket", queue=queue, le="+Inf") == 7.0
        assert _sample(text, "billing_queue_answer_wait_seconds_sum", queue=queue) == 154.0

    assert await fetchval(
        dsn, "SELECT count(*) FROM queue_stats_windows WHERE queue = $1 AND window_s = 0", queue
    ) == len(partitions)


async def _json(url: str) -> dict:
    return json.loads(_get(url))


async def test_kill_minus_nine_mid_stream_counts_every_task_event_once(stack: Launcher, live) -> None:
    """Worker 0 dies while counting; the survivor restores its partitions' cells from the changelogs, then the
    restarted worker takes some back (restoring again). Every routed and accepted event is counted once."""
    queue, prefix = unique("qk"), unique("qkt")
    tasks = 1500
    base = window_start(datetime.now(UTC) - timedelta(minutes=40), WINDOW_S)
    events: list[ev.Event] = []
    for i in range(tasks):
        task = {"task_id": f"{prefix}-t{i}", "account_id": f"{prefix}-acc-{i % 60}", "queue": queue}
        routed_at = base + timedelta(seconds=i % 600)
        events.append(
            ev.TaskRoutedEvent(
                **_env(f"{prefix}-t{i}:routed", routed_at),
                type="task.routed.v1",
                payload=TaskRouted(
                    **task, kind=TaskKind.CALL, tier=Tier.FRONTLINE, priority=1, reason="other", rule="default"
                ),
            )
        )
        events.append(
            ev.TaskAcceptedEvent(
                **_env(f"{prefix}-t{i}:accepted:1", routed_at + timedelta(seconds=i % 40)),
                type="task.accepted.v1",
                payload=TaskAccepted(**task, agent_id="agent-1", waited_ms=(i % 40) * 1000),
            )
        )
    # Waits 0..39 s, each 37 or 38 times: 1500 = 37 * 40 + 20, so waits 0..19 come 38 times.
    expected_wait_s = sum(i % 40 for i in range(tasks))
    dsn = live.require_database_url()
    counted = (
        "SELECT coalesce(sum((stats->>'entered')::int), 0) FROM queue_stats_windows WHERE queue = $1 AND window_s = 0"
    )

    half = len(events) // 2
    await publish(live.require_bootstrap(), [record_of(e) for e in events[:half]])
    # Kill once every partition has counted events and committed an offset, so that both workers' partitions
    # have cells to restore and a replay to absorb. (A worker killed before its partitions' first offset commit
    # can leave them unconsumed after the restart on the embedded broker: reported, not this test's subject.)
    await eventually(lambda: fetchval(dsn, counted, queue), lambda n: n >= 200)
    await eventually(
        lambda: committed_offsets(live, TASK_EVENTS), lambda offsets: all(offset for offset in offsets.values())
    )
    stack.stop_worker(0, kill=True)
    await publish(live.require_bootstrap(), [record_of(e) for e in events[half:]])
    await asyncio.to_thread(stack.restart_worker, 0)

    url = f"http://127.0.0.1:{stack.settings.worker_web_port}/queues/metrics"
    report = await eventually(
        lambda: _json(url),
        lambda r: (
            queue in r["queues"] and r["queues"][queue]["entered"] >= tasks and r["queues"][queue]["answered"] >= tasks
        ),
        timeout_s=180,
    )
    q = report["queues"][queue]
    assert (q["entered"], q["answered"], q["total_answer_wait_s"]) == (tasks, tasks, expected_wait_s)
    # The windows add up to the same: no window cell was lost or doubled in the restores either.
    assert sum(w["entered"] for w in q["windows"]) == tasks
    assert sum(w["total_answer_wait_s"] for w in q["windows"]) == expected_wait_s
