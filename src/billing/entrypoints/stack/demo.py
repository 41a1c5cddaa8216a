"""`billing demo`: a fresh embedded stack, traffic on every topic (bad records included), the month's cycles closed
into invoices, a report, a clean stop."""

from __future__ import annotations

import asyncio
import shutil
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import click
import orjson

from billing.entrypoints.cli.billing_commands import money
from billing.entrypoints.cli.observe import committed_offsets, count_dead_letter_topic, wait_for_counts
from billing.entrypoints.stack.demo_collections import report_collections, run_collections
from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Population, Record, bad_usage_records, publish, record_of
from billing.invoicing.catalog_config import load_catalog
from billing.invoicing.closer import close_due_cycles
from billing.invoicing.rules.close_model import CloseReport
from billing.platform.settings import Settings, load_settings
from billing.platform.topics import EVENT_TOPICS, INVOICES_ISSUED, TASK_EVENTS, TopicSpec


@dataclass(frozen=True)
class DemoPlan:
    records: list[Record]
    expected_rows: dict[str, int]
    bad: int


def demo_month_start(today: date) -> datetime:
    """The first day of last month: its usage (days 1 to 21) is in the past and far from its late limit, and the
    cycles it falls in (anchor days 1 to 28) have mostly ended by today, so closing as of today invoices them."""
    first_of_this_month = today.replace(day=1)
    return datetime.combine((first_of_this_month - timedelta(days=1)).replace(day=1), time.min, UTC)


def plan(accounts: int, usage_events: int) -> DemoPlan:
    population = Population.of(accounts, start=demo_month_start(datetime.now(UTC).date()))
    bad = bad_usage_records(population.account_ids[0])
    journeys = len(population.account_ids[::10])
    records = [record_of(e) for e in population.openings()]
    records += [record_of(e) for e in population.usage(usage_events)]
    records += [b.record for b in bad]
    # Invoices come from closing the cycles below, not from the load generator's hand-made ones.
    records += [record_of(e) for e in population.workflow() if e.type != "invoice.issued.v1"]
    expected = {
        "accounts": accounts,
        "usage_events": usage_events,
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
    # The workers' own closer follows the event-time clock; the demo's usage arrives in random time order, so
    # the demo closes the month itself, once everything is in, and keeps the workers' closer out of the way.
    demo_settings = base.model_copy(update={"state_dir": state, "closer_interval_s": 3600.0})
    click.echo(f"billing demo: {accounts} accounts, {usage_events} usage events, {workers} workers", err=True)
    started = clock.monotonic()
    # Ports of its own choosing: a demo beside a running `billing up` (or another demo) does not collide with it.
    with Launcher(demo_settings, progress=lambda m: click.echo(f"  {m}", err=True), any_ports=True) as launcher:
        live = launcher.start(workers)
        click.echo(f"  stack ready in {clock.monotonic() - started:.1f} s", err=True)
        demo = plan(accounts, usage_events)
        _publish(live, demo)
        seconds = _await_effects(live, demo)
        closing = _close_cycles(live)
        collections = run_collections(live, closing.issued)
        _report(live, demo, seconds)
        _report_invoices(live, closing)
        report_collections(collections)
        click.echo("stopping the stack", err=True)
    click.echo("stopped: workers, PostgreSQL and broker; nothing of the demo is left running", err=True)


def _publish(settings: Settings, demo: DemoPlan) -> None:
    with click.progressbar(length=len(demo.records), label="  publishing", file=click.get_text_stream("stderr")) as bar:
        asyncio.run(publish(settings.require_bootstrap(), demo.records, on_sent=bar.update))


def _await_effects(settings: Settings, demo: DemoPlan) -> float:
    total = sum(demo.expected_rows.values())
    started = clock.monotonic()
    with click.progressbar(length=total, label="  processing", file=click.get_text_stream("stderr")) as bar:
        done = 0

        def progress(counts: dict[str, int]) -> None:
            nonlocal done
            now = sum(min(counts[t], n) for t, n in demo.expected_rows.items())
            bar.update(now - done)
            done = now

        asyncio.run(wait_for_counts(settings.require_database_url(), demo.expected_rows, progress, timeout_s=300))
    return clock.monotonic() - started


def _report(settings: Settings, demo: DemoPlan, seconds: float) -> None:
    per_topic = asyncio.run(_applied_per_topic(settings.require_database_url()))
    outbox = asyncio.run(_published_by_workers(settings.require_database_url()))
    # Task events feed caches (queue metrics, retention), not processed_events: show what the group consumed.
    per_topic[TASK_EVENTS.name] = (asyncio.run(_consumed(settings, TASK_EVENTS, outbox.get(TASK_EVENTS.name, 0))), 0)
    dlq_messages = asyncio.run(count_dead_letter_topic(settings.require_bootstrap(), demo.bad, timeout_s=30))
    click.echo("")
    click.echo(f"{'topic':32} {'published':>10} {'applied':>10} {'dead-lettered':>14}")
    for spec in EVENT_TOPICS:
        published = sum(1 for r in demo.records if r.topic == spec.name) or outbox.get(spec.name, 0)
        applied, dead = per_topic.get(spec.name, (0, 0))
        click.echo(f"{spec.name:32} {published:>10} {applied:>10} {dead:>14}")
    _report_queues(settings)
    click.echo(f"\ndead-letter topic: {dlq_messages} message(s), each with its reason and source position:")
    for row in asyncio.run(_dead_letter_reasons(settings.require_database_url())):
        click.echo(
            f"  {row['source_topic']}:{row['partition']}:{row['offset']}  [{row['error_kind']}] {row['reason'][:90]}"
        )
    usage = demo.expected_rows["usage_events"]
    click.echo(
        f"\nall effects written {seconds:.1f} s after publishing ({usage / max(seconds, 0.001):,.0f} usage events/s)"
    )


async def _consumed(settings: Settings, spec: TopicSpec, published: int, timeout_s: float = 15) -> int:
    """Records of the topic the workers' group has committed, waiting a little for its periodic commit."""
    deadline = clock.monotonic() + timeout_s
    while True:
        consumed = sum(offset or 0 for offset in (await committed_offsets(settings, spec)).values())
        if consumed >= published or clock.monotonic() > deadline:
            return consumed
        await asyncio.sleep(0.5)


def _report_queues(settings: Settings) -> None:
    rows = asyncio.run(_tasks_per_queue(settings.require_database_url()))
    routed = ", ".join(f"{r['queue']} {r['n']} (priority {r['low']}-{r['high']})" for r in rows)
    click.echo(f"\nagent queues: calls and disputes routed to {routed or 'no queue'}")


async def _tasks_per_queue(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT queue, count(*) AS n, min(priority) AS low, max(priority) AS high"
            " FROM tasks GROUP BY queue ORDER BY count(*) DESC, queue"
        )
    finally:
        await conn.close()


def _close_cycles(settings: Settings) -> CloseReport:
    as_of = datetime.combine(datetime.now(UTC).date(), time.min, UTC)
    click.echo(f"  closing every cycle due as of {as_of.date()} (cycle end plus the grace period)", err=True)

    async def close() -> CloseReport:
        pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=2)
        try:
            report = await close_due_cycles(pool, load_catalog(settings), settings, as_of)
            await _await_echoes(pool, report.invoices)
            return report
        finally:
            await pool.close()

    return asyncio.run(close())


async def _await_echoes(pool: asyncpg.Pool, events: int, timeout_s: float = 60) -> None:
    """Until the relay has published every invoice event and the workers have read each back (as our own)."""
    deadline = clock.monotonic() + timeout_s
    while clock.monotonic() < deadline:
        seen = await pool.fetchval(
            "SELECT count(*) FROM processed_events WHERE source_topic = $1", INVOICES_ISSUED.name
        )
        if seen >= events:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"invoice events not all read back within {timeout_s:.0f} s")


def _report_invoices(settings: Settings, closing: CloseReport) -> None:
    click.echo(
        f"\ncycles closed: {closing.issued:,} invoices issued, {closing.held:,} held for review,"
        f" in {closing.seconds:.2f} s ({closing.per_second:,.0f} invoices/s)"
    )
    totals, sample = asyncio.run(_invoice_figures(settings.require_database_url()))
    for row in totals:
        click.echo(
            f"  billed {money(row['billed'], row['currency'])} on {row['n']:,} invoices"
            f" (largest {money(row['largest'], row['currency'])})"
        )
    if sample is None:
        return
    click.echo(
        f"\nsample invoice {sample['invoice_number']} for {sample['account_id']},"
        f" {sample['period_start']} to {sample['period_end']}:"
    )
    for line in orjson.loads(sample["lines"]):
        click.echo(
            f"  {line['kind']:10} {line['description'][:58]:58} {money(line['amount_minor'], sample['currency']):>14}"
        )
    click.echo(f"  {'total':10} {'':58} {money(sample['total_minor'], sample['currency']):>14}")


async def _invoice_figures(dsn: str) -> tuple[list[asyncpg.Record], asyncpg.Record | None]:
    conn = await asyncpg.connect(dsn)
    try:
        totals = await conn.fetch(
            "SELECT currency, count(*) AS n, sum(total_minor)::bigint AS billed, max(total_minor) AS largest"
            " FROM invoices WHERE status = 'issued' GROUP BY currency ORDER BY currency"
        )
        # The richest one makes the best example: a discount if any, then the most lines.
        sample = await conn.fetchrow(
            "SELECT invoice_number, account_id, period_start, period_end, currency, total_minor, lines::text AS lines"
            " FROM invoices WHERE status = 'issued'"
            " ORDER BY jsonb_path_exists(lines, '$[*] ? (@.kind == \"discount\")') DESC,"
            " jsonb_array_length(lines) DESC, invoice_number LIMIT 1"
        )
    finally:
        await conn.close()
    return totals, sample


async def _applied_per_topic(dsn: str) -> dict[str, tuple[int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        applied = {
            r["source_topic"]: r["n"]
            for r in await conn.fetch("SELECT source_topic, count(*) AS n FROM processed_events GROUP BY 1")
        }
        applied["billing.usage.v1"] = await conn.fetchval("SELECT count(*) FROM usage_events")
        dead = {
            r["source_topic"]: r["n"]
            for r in await conn.fetch("SELECT source_topic, count(*) AS n FROM dead_letters GROUP BY 1")
        }
    finally:
        await conn.close()
    return {t: (applied.get(t, 0), dead.get(t, 0)) for t in set(applied) | set(dead)}


async def _published_by_workers(dsn: str) -> dict[str, int]:
    """Events the workers published through the outbox (the invoices), per topic."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT topic, count(*) AS n FROM outbox WHERE published_at IS NOT NULL GROUP BY 1")
    finally:
        await conn.close()
    return {r["topic"]: r["n"] for r in rows}


async def _dead_letter_reasons(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            'SELECT source_topic, partition, "offset", error_kind, reason FROM dead_letters ORDER BY id'
        )
    finally:
        await conn.close()
