"""`billing demo`: a fresh embedded stack, traffic on every topic (bad records included), a report, a clean stop."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime, timedelta
from dataclasses import dataclass

import asyncpg
import click

from ops.launcher import Launcher
from ops.loadgen import Population, Record, bad_usage_records, publish, record_of
from ops.observe import count_dead_letter_topic, wait_for_counts
from streams.settings import Settings, load_settings
from streams.topics import EVENT_TOPICS


@dataclass(frozen=True)
class DemoPlan:
    records: list[Record]
    expected_rows: dict[str, int]
    bad: int


def plan(accounts: int, usage_events: int) -> DemoPlan:
    # Usage of the last three weeks, so it is neither in the future nor past its late limit whenever it runs.
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=21)
    population = Population.of(accounts, start=start)
    bad = bad_usage_records(population.account_ids[0])
    journeys = len(population.account_ids[::10])
    records = [record_of(e) for e in population.openings()]
    records += [record_of(e) for e in population.usage(usage_events)]
    records += [b.record for b in bad]
    records += [record_of(e) for e in population.workflow()]
    expected = {
        "accounts": accounts,
        "usage_events": usage_events,
        "invoices_issued": journeys,
        "calls": journeys,
        "disputes": journeys,
        "discount_grants": journeys,
        "dead_letters": len(bad),
    }
    return DemoPlan(records, expected, len(bad))


def run_demo(accounts: int, usage_events: int, workers: int, settings: Settings | None = None) -> None:
    base = settings or load_settings()
    state = base.state_dir / "demo"
    shutil.rmtree(state, ignore_errors=True)  # the embedded broker forgets everything; so does the demo
    demo_settings = base.model_copy(update={"state_dir": state})
    click.echo(f"billing demo: {accounts} accounts, {usage_events} usage events, {workers} workers", err=True)
    started = time.monotonic()
    with Launcher(demo_settings, progress=lambda m: click.echo(f"  {m}", err=True)) as launcher:
        live = launcher.start(workers)
        click.echo(f"  stack ready in {time.monotonic() - started:.1f} s", err=True)
        demo = plan(accounts, usage_events)
        _publish(live, demo)
        seconds = _await_effects(live, demo)
        _report(live, demo, seconds)
        click.echo("stopping the stack", err=True)
    click.echo("stopped: workers, PostgreSQL and broker; nothing of the demo is left running", err=True)


def _publish(settings: Settings, demo: DemoPlan) -> None:
    with click.progressbar(length=len(demo.records), label="  publishing", file=click.get_text_stream("stderr")) as bar:
        asyncio.run(publish(settings.require_bootstrap(), demo.records, on_sent=bar.update))


def _await_effects(settings: Settings, demo: DemoPlan) -> float:
    total = sum(demo.expected_rows.values())
    started = time.monotonic()
    with click.progressbar(length=total, label="  processing", file=click.get_text_stream("stderr")) as bar:
        done = 0

        def progress(counts: dict[str, int]) -> None:
            nonlocal done
            now = sum(min(counts[t], n) for t, n in demo.expected_rows.items())
            bar.update(now - done)
            done = now

        asyncio.run(wait_for_counts(settings.require_database_url(), demo.expected_rows, progress, timeout_s=300))
    return time.monotonic() - started


def _report(settings: Settings, demo: DemoPlan, seconds: float) -> None:
    per_topic = asyncio.run(_applied_per_topic(settings.require_database_url()))
    dlq_messages = asyncio.run(count_dead_letter_topic(settings.require_bootstrap(), demo.bad, timeout_s=30))
    click.echo("")
    click.echo(f"{'topic':32} {'published':>10} {'applied':>10} {'dead-lettered':>14}")
    for spec in EVENT_TOPICS:
        published = sum(1 for r in demo.records if r.topic == spec.name)
        applied, dead = per_topic.get(spec.name, (0, 0))
        click.echo(f"{spec.name:32} {published:>10} {applied:>10} {dead:>14}")
    click.echo(f"\ndead-letter topic: {dlq_messages} message(s), each with its reason and source position:")
    for row in asyncio.run(_dead_letter_reasons(settings.require_database_url())):
        click.echo(f"  {row['source_topic']}:{row['partition']}:{row['offset']}  [{row['error_kind']}] {row['reason'][:90]}")
    usage = demo.expected_rows["usage_events"]
    click.echo(f"\nall effects written {seconds:.1f} s after publishing ({usage / max(seconds, 0.001):,.0f} usage events/s)")


async def _applied_per_topic(dsn: str) -> dict[str, tuple[int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        applied = {r["source_topic"]: r["n"] for r in await conn.fetch(
            "SELECT source_topic, count(*) AS n FROM processed_events GROUP BY 1")}
        applied["billing.usage.v1"] = await conn.fetchval("SELECT count(*) FROM usage_events")
        dead = {r["source_topic"]: r["n"] for r in await conn.fetch(
            "SELECT source_topic, count(*) AS n FROM dead_letters GROUP BY 1")}
    finally:
        await conn.close()
    return {t: (applied.get(t, 0), dead.get(t, 0)) for t in set(applied) | set(dead)}  # fmt: skip


async def _dead_letter_reasons(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch('SELECT source_topic, partition, "offset", error_kind, reason FROM dead_letters ORDER BY id')
    finally:
        await conn.close()
