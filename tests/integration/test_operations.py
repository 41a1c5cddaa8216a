"""Health, metrics, scale-out over two workers, and no loss or double effect when a worker is killed."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Population, bad_usage_records, publish, record_of
from tests.integration.conftest import WORKERS
from tests.integration.helpers import eventually, fetch, fetchval, http_get, metric_value, unique

pytestmark = pytest.mark.integration


def _scrape(stack: Launcher, index: int) -> str:
    return http_get(f"http://127.0.0.1:{stack.settings.worker_web_port + index}/metrics")[1]


async def test_health_answers_on_every_worker(stack: Launcher) -> None:
    for index in range(WORKERS):
        status, body = http_get(f"http://127.0.0.1:{stack.settings.worker_web_port + index}/health")
        assert status == 200
        assert '"database":true' in body.replace(" ", "")


async def test_the_api_health_checks_its_database(stack: Launcher) -> None:
    status, body = http_get(f"http://{stack.settings.api_host}:{stack.settings.api_port}/health")
    assert (status, json.loads(body)) == (200, {"status": "ok", "checks": {"database": True}})


def _log_lines(path: Path) -> tuple[list[str], str]:
    """Complete lines, and the line still being written (no newline yet; '' if none)."""
    *lines, partial = path.read_text(errors="replace").split("\n")
    return lines, partial


async def test_every_line_of_the_workers_and_apis_logs_is_one_json_object(stack: Launcher) -> None:
    logs = [*sorted(stack.logs_dir().glob("worker-*.log")), stack.logs_dir() / "api.log"]
    assert len(logs) == WORKERS + 1

    def not_json(line: str) -> bool:
        try:
            return not isinstance(json.loads(line), dict)
        except ValueError:
            return True

    async def bad_lines_and_ready_workers() -> tuple[dict[str, list[str]], int]:
        bad, ready = {}, 0
        for path in logs:
            lines, partial = _log_lines(path)
            # A line being written is judged once complete, unless it cannot be JSON's start (an escape code).
            wrong = [line for line in lines if not_json(line)] + ([partial] if partial[:1] not in ("", "{") else [])
            if wrong:
                bad[path.name] = wrong
            ready += sum('"worker ready"' in line for line in lines)
        return bad, ready

    # Until every worker has finished starting: Faust's spinner wrote a terminal escape into the log just then.
    bad, _ = await eventually(bad_lines_and_ready_workers, lambda found: bool(found[0]) or found[1] >= WORKERS)
    assert bad == {}


async def test_two_workers_share_the_usage_partitions(stack: Launcher, live) -> None:
    # A worker restarted by an earlier test may still be rejoining the group (the dead member's session has to
    # expire first): wait until both hold usage partitions, then every record goes to one of them.
    async def holdings() -> list[float]:
        return [
            metric_value(_scrape(stack, i), "billing_assigned_partitions", topic="billing.usage.v1")
            for i in range(WORKERS)
        ]

    await eventually(holdings, lambda counts: all(n > 0 for n in counts) and sum(counts) == live.usage_partitions)
    population = Population.of(50, prefix=unique("share"))
    events = [*population.openings(), *population.usage(2000, id_prefix=unique("s"))]
    await publish(live.require_bootstrap(), [record_of(e) for e in events])
    dsn = live.require_database_url()
    await eventually(
        lambda: fetchval(
            dsn, "SELECT count(*) FROM usage_events WHERE account_id LIKE $1", population.account_ids[0][:-6] + "%"
        ),
        lambda n: n == 2000,
    )
    per_worker = [
        metric_value(_scrape(stack, i), "billing_events_in_total", topic="billing.usage.v1") for i in range(WORKERS)
    ]
    assert all(n > 0 for n in per_worker), f"each worker consumed part of the usage topic: {per_worker}"
    text = _scrape(stack, 0) + _scrape(stack, 1)
    assert re.search(r'billing_consumer_lag\{partition="\d+",topic="billing.usage.v1"\}', text)
    assert "billing_batch_seconds_bucket" in text


async def test_dead_letters_are_counted_in_metrics(stack: Launcher, live) -> None:
    def dead_lettered() -> float:
        # The counter sits on whichever worker owns the record's partition: add both.
        return sum(
            metric_value(_scrape(stack, i), "billing_dead_letters_total", topic="billing.usage.v1", kind="undecodable")
            for i in range(WORKERS)
        )

    before = dead_lettered()
    garbage = bad_usage_records(unique("metric"))[0].record
    await publish(live.require_bootstrap(), [garbage])

    async def probe() -> float:
        return dead_lettered()

    assert await eventually(probe, lambda n: n == before + 1) == before + 1


async def test_kill_minus_nine_mid_stream_loses_and_duplicates_nothing(stack: Launcher, live) -> None:
    population = Population.of(200, prefix=unique("crash"))
    prefix = unique("k")
    events = [record_of(e) for e in population.usage(20_000, id_prefix=prefix)]
    dsn = live.require_database_url()
    like = prefix + "-%"

    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()] + events[:10_000])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM usage_events WHERE event_id LIKE $1", like), lambda n: n > 0
    )
    stack.stop_worker(0, kill=True)
    await publish(live.require_bootstrap(), events[10_000:])
    await asyncio.to_thread(stack.restart_worker, 0)

    pattern = f'%"{prefix}-%'.encode()

    async def rated_and_refused() -> tuple[int, int]:
        rated = await fetchval(dsn, "SELECT count(*) FROM usage_events WHERE event_id LIKE $1", like)
        refused = await fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_value LIKE $1", pattern)
        return rated, refused

    # Waiting for rated + refused (not rated alone) makes a refusal fail fast, with its reason, not as a timeout.
    rated, refused = await eventually(rated_and_refused, lambda c: sum(c) >= 20_000, timeout_s=120)
    reasons = await fetch(dsn, "SELECT DISTINCT reason FROM dead_letters WHERE original_value LIKE $1", pattern)
    assert (rated, refused) == (20_000, 0), f"dead letters: {[r['reason'] for r in reasons]}"
    total = await fetchval(dsn, "SELECT sum(quantity) FROM usage_events WHERE event_id LIKE $1", like)
    assert total == sum(e.payload.quantity for e in population.usage(20_000, id_prefix=prefix))
