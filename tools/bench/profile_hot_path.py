"""Profile the usage hot path without the broker: decode, rate and write batches into a private PostgreSQL.

    python -m tools.bench.profile_hot_path --events 200000 --accounts 20000 [--cprofile out.prof]

Runs exactly the worker's code for a batch (billing.usage.batch.prepare, UsageWriter.assess, then
UsageWriter.store in one transaction, as UsageConsumer does), one stage after another (the worker overlaps
the store of one batch with the decode and assessment of the next), over generated canonical records, and
reports where the wall time goes per stage: decode, database reads, rating, database writes. With --cprofile it also writes a cProfile of
the whole loop and prints its top functions. Used for tools/bench/PROFILE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from billing.entrypoints.stack import EmbeddedPostgres
from billing.invoicing.catalog_config import load_catalog
from billing.invoicing.closer import close_due_cycles
from billing.platform.context import create_pool
from billing.platform.decoding import RawMessage
from billing.platform.migrate import migrate
from billing.platform.runtime import tune_gc
from billing.platform.settings import load_settings
from billing.platform.topics import USAGE
from billing.usage import account_cache
from billing.usage import writer as usage_writer
from billing.usage.batch import prepare
from billing.usage.writer import UsageWriter
from tools.bench.accounts import open_directly
from tools.bench.events import UsageGenerator, account_ids
from tools.bench.memory import cpu_seconds
from tools.bench.run import last_full_month

STAGES: dict[str, float] = defaultdict(float)


@contextmanager
def stage(name: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGES[name] += time.perf_counter() - started


def _timed(name: str, function):
    async def wrapper(*args, **kwargs):
        with stage(name):
            return await function(*args, **kwargs)

    return wrapper


def _timed_sync(name: str, function):
    def wrapper(*args, **kwargs):
        with stage(name):
            return function(*args, **kwargs)

    return wrapper


def instrument() -> None:
    """Wrap the writer's steps (as imported by billing.usage.writer) with stage timers."""
    for name in ("known_records", "insert_rated"):
        setattr(usage_writer, name, _timed(f"db: {name}", getattr(usage_writer, name)))
    account_cache.load_accounts = _timed("db: load_accounts", account_cache.load_accounts)
    usage_writer.rate_batch = _timed_sync("rate_batch", usage_writer.rate_batch)


def messages(generator: UsageGenerator, count: int, partitions: int) -> list[RawMessage]:
    out = []
    for n, (key, value) in enumerate(generator.stream(count, "prof")):
        out.append(RawMessage(USAGE.name, n % partitions, n // partitions, key, value, 0))
    return out


async def run(
    dsn: str, events: int, accounts: int, batch_size: int, profile: Path | None, pg_pid: int | None, close: bool
) -> None:
    start, end = last_full_month(time_now())
    ids = account_ids(accounts)
    await open_directly(dsn, ids, start)
    settings = load_settings(database_url=dsn, kafka_bootstrap_servers="unused:9092")
    writer = UsageWriter(load_catalog(settings), settings)
    pool = await create_pool(settings)
    records = messages(UsageGenerator(ids, start, end), events, settings.usage_partitions)
    instrument()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    cpu_before = (time.process_time(), cpu_seconds(pg_pid, with_children=True))
    if profiler:
        profiler.enable()
    for first in range(0, len(records), batch_size):
        with stage("decode (prepare)"):
            batch = prepare(records[first : first + batch_size])
        async with pool.acquire() as conn:
            with stage("assess (reads + rating)"):
                assessment = await writer.assess(conn, batch)
            with stage("store (one transaction)"):
                async with conn.transaction():
                    await writer.store(conn, batch, assessment)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    python_cpu, pg_cpu = time.process_time() - cpu_before[0], cpu_seconds(pg_pid, with_children=True) - cpu_before[1]
    print(f"{events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s (batch {batch_size})")
    for name, spent in sorted(STAGES.items(), key=lambda item: -item[1]):
        print(f"  {name:28} {spent:7.2f} s  {100 * spent / seconds:5.1f} %  {1e6 * spent / events:6.1f} µs/event")
    # CPU time does not grow when other work shares the machine, wall time does.
    if close:
        await _profile_close(pool, settings, end, pg_pid, profile)
    cache = writer.accounts
    print(f"account cache: {cache.hits:,} hits, {cache.misses:,} misses, {len(cache):,} views")
    print(f"CPU per event: this process {1e6 * python_cpu / events:.1f} µs, PostgreSQL {1e6 * pg_cpu / events:.1f} µs")
    if profiler and profile:
        profiler.dump_stats(str(profile))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    await pool.close()


async def _profile_close(pool, settings, period_end, pg_pid: int | None, profile: Path | None) -> None:
    """Close the month just rated, as the benchmark's phase (d) does, with CPU per invoice."""
    as_of = period_end + timedelta(seconds=settings.cycle_close_grace_s, hours=1)
    profiler = cProfile.Profile() if profile else None
    cpu_before = (time.process_time(), cpu_seconds(pg_pid, with_children=True))
    if profiler:
        profiler.enable()
    report = await close_due_cycles(pool, load_catalog(settings), settings, as_of)
    if profiler:
        profiler.disable()
    python_cpu, pg_cpu = time.process_time() - cpu_before[0], cpu_seconds(pg_pid, with_children=True) - cpu_before[1]
    n = max(report.invoices, 1)
    print(
        f"close: {report.invoices:,} invoices in {report.seconds:.2f} s = {report.per_second:,.0f} invoices/s;"
        f" CPU per invoice: this process {1e6 * python_cpu / n:.0f} µs, PostgreSQL {1e6 * pg_cpu / n:.0f} µs"
    )
    if profiler and profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def time_now():
    return datetime.now(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--cprofile", type=Path, default=None)
    parser.add_argument("--close", action="store_true", help="then close the month's cycles and profile that")
    args = parser.parse_args()
    tune_gc()  # as the worker does
    state = Path(tempfile.mkdtemp(prefix="billing-profile-", dir="/tmp"))
    try:
        with EmbeddedPostgres(data_dir=state / "postgres") as postgres:
            dsn = postgres.dsn
            asyncio.run(migrate(dsn))
            asyncio.run(run(dsn, args.events, args.accounts, args.batch, args.cprofile, postgres.pid, args.close))
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
