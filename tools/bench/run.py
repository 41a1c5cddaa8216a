"""One benchmark run on one embedded broker and PostgreSQL, phase by phase (see tools/bench/__main__.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from billing.entrypoints.stack.launcher import Launcher
from billing.invoicing.catalog_config import load_catalog
from billing.invoicing.closer import close_due_cycles
from billing.platform.context import create_pool
from billing.platform.settings import Settings, load_settings
from tools.bench import traffic
from tools.bench.accounts import open_directly
from tools.bench.events import UsageGenerator, account_ids
from tools.bench.memory import PeakRss, cpu_seconds
from tools.bench.progress import Meter, say
from tools.bench.report import percentile, summarize
from tools.bench.waits import fetchval, follow, wait_count
from tools.bench.worklog import LogFollower, persisted_times, steady_rate


@dataclass
class Options:
    events: int = 1_000_000
    accounts: int = 100_000
    latency_rate: int = 10_000
    latency_seconds: float = 20.0
    faust_events: int = 100_000
    close_batch: int = 1000
    accounts_via_topic: bool = False
    state_dir: Path | None = None


@dataclass
class Outcome:
    figures: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    postgres: str | None = None


def last_full_month(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month before `now`'s: its usage is neither in the future nor past the late limit."""
    end = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return start, end


def bench_settings(state_dir: Path) -> Settings:
    return load_settings(state_dir=state_dir, workers=1, log_format="json", log_level="INFO")


class Bench:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.out = Outcome()
        self.period_start, self.period_end = last_full_month(datetime.now(UTC))
        self.accounts = account_ids(options.accounts)
        self.generator = UsageGenerator(self.accounts, self.period_start, self.period_end)
        state = options.state_dir or Path(tempfile.mkdtemp(prefix="billing-bench-", dir="/tmp"))
        self.scratch = None if options.state_dir else state  # removed after the run: a 1M run leaves ~2 GB
        self.launcher = Launcher(bench_settings(state), progress=say, any_ports=True)
        self.rss = PeakRss(self._worker_pid)

    def run(self) -> Outcome:
        say(f"{self.o.accounts:,} accounts, {self.o.events:,} usage events, usage period {self.period_start:%Y-%m}")
        # Other work on the machine skews every figure: the load average before and after says how much there was.
        self.out.details["load_average_1m_at_start"] = round(os.getloadavg()[0], 2)
        try:
            self._run()
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
        return self.out

    def _run(self) -> None:
        with self.launcher, self.rss:
            self.settings = self.launcher.start_services()
            self.out.postgres = asyncio.run(fetchval(self.dsn, "SHOW server_version"))
            self.open_accounts()  # no worker runs afterwards: the usage backlog builds up unread
            self.publish_backlog()
            self.raw_ceiling()
            self.faust_baseline()
            follower = LogFollower(self.launcher.logs_dir() / "worker-0.log")
            asyncio.run(self._rate_backlog(follower))
            asyncio.run(self._latency(follower))
            self._stop_worker()
            self.out.figures["worker_peak_rss_mb"] = self.rss.peak_mb
            asyncio.run(self._close_cycles())
            asyncio.run(self._check_counts())
            self.out.details["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)

    @property
    def dsn(self) -> str:
        return self.settings.require_database_url()

    def _worker_pid(self) -> int | None:
        workers = self.launcher.workers
        return workers[0].pid if workers and workers[0].poll() is None else None

    def _cpu(self) -> dict[str, float]:
        postgres = self.launcher.postgres.pid if self.launcher.postgres else None
        broker = self.launcher.broker.pid if self.launcher.broker else None
        return {
            "worker": cpu_seconds(self._worker_pid()),
            "postgres": cpu_seconds(postgres, with_children=True),
            "broker": cpu_seconds(broker),
        }

    def _stop_worker(self) -> None:
        self.rss.sample()
        self.launcher.stop_worker(0)

    def open_accounts(self) -> None:
        if not self.o.accounts_via_topic:
            say("setup: open accounts directly in PostgreSQL (tools/bench/accounts.py)")
            started = time.monotonic()
            asyncio.run(open_directly(self.dsn, self.accounts, self.period_start))
            say(f"{len(self.accounts):,} accounts in {time.monotonic() - started:.1f} s")
            return
        say("setup: open accounts (account.opened.v1 through the worker's Faust agent)")
        self.launcher.start_workers(1)
        meter = Meter("accounts stored", len(self.accounts), unit="accounts")  # started before publishing
        records = traffic.openings(self.accounts, self.period_start)
        asyncio.run(
            traffic.publish_records(self.settings.require_bootstrap(), records, len(self.accounts), "publish openings")
        )
        seconds = asyncio.run(wait_count(self.dsn, "SELECT count(*) FROM accounts", len(self.accounts), meter))
        self.out.details["accounts_per_s_faust_agent"] = round(len(self.accounts) / seconds)
        self._stop_worker()

    def publish_backlog(self) -> None:
        say("phase: publish the usage backlog")
        traffic.check_sample(self.generator)
        records = traffic.usage_records(self.generator, self.o.events, "use")
        seconds = asyncio.run(
            traffic.publish_records(self.settings.require_bootstrap(), records, self.o.events, "publish usage")
        )
        self.out.details["publish_eps"] = round(self.o.events / seconds)

    def raw_ceiling(self) -> None:
        say("phase (a): raw aiokafka getmany + orjson decode of the usage topic")
        raw = asyncio.run(traffic.raw_consume(self.settings.require_bootstrap(), self.o.events))
        self.out.figures["raw_consume_eps"] = round(raw["eps"])

    def faust_baseline(self) -> None:
        count = min(self.o.faust_events, self.o.events)
        say(f"phase: Faust agent doing nothing per event, {count:,} events (tools/bench/faust_baseline.py)")
        out = Path(tempfile.mkstemp(prefix="faust-baseline-", suffix=".json", dir=self.launcher.logs_dir())[1])
        command = [
            sys.executable,
            "-m",
            "tools.bench.faust_baseline",
            "--bootstrap",
            self.settings.require_bootstrap(),
            "--events",
            str(count),
            "--out",
            str(out),
        ]
        proc = subprocess.Popen(command, cwd=str(Path(__file__).resolve().parents[2]))
        try:
            proc.wait(timeout=max(120, count / 500))
        except subprocess.TimeoutExpired:
            say("Faust baseline did not finish in time; stopping it")
            proc.kill()
            proc.wait()
        import orjson

        result = orjson.loads(out.read_bytes()) if out.stat().st_size else {}
        self.out.details["faust_per_event_eps"] = round(result["eps"]) if result else None

    async def _rate_backlog(self, follower: LogFollower) -> None:
        say("phase (b): one worker rates and persists the backlog")
        if self.launcher.workers:
            await asyncio.to_thread(self.launcher.restart_worker, 0)
        else:
            await asyncio.to_thread(self.launcher.start_workers, 1)
        meter = Meter("rated+persisted", self.o.events)
        await follow(follower, 1, meter)  # from the first committed batch on, count the CPU it costs
        first = follower.received
        cpu_before = self._cpu()
        await follow(follower, self.o.events, meter)
        cpu_after = self._cpu()
        meter.done()
        events = follower.received - first
        # CPU per event does not depend on what else runs on the machine: capacity if each had a core to itself.
        self.out.details["cpu_us_per_event"] = {
            name: round(1e6 * (cpu_after[name] - cpu_before[name]) / max(events, 1), 1) for name in cpu_after
        }
        backlog = list(follower.marks)
        self.out.figures["rated_eps_one_worker"] = _round(steady_rate(backlog))
        self.out.details["batches_backlog"] = len(backlog)
        self.out.details["mean_batch_events"] = round(sum(m.received for m in backlog) / max(len(backlog), 1))

    async def _latency(self, follower: LogFollower) -> None:
        o = self.o
        say(f"phase (c): steady {o.latency_rate:,} events/s for {o.latency_seconds:g} s, publish -> persisted")
        before = follower.received
        sent = await traffic.steady_stream(
            self.settings.require_bootstrap(), self.generator, o.latency_rate, o.latency_seconds
        )
        await follow(follower, before + len(sent), None)
        persisted = persisted_times(follower.marks, [(s.partition, s.offset) for s in sent])
        delays = [at - s.published_at for s, at in zip(sent, persisted, strict=True) if at is not None]
        missing = len(sent) - len(delays)
        self.out.figures["p99_publish_to_persisted_s"] = round(percentile(delays, 99), 4) if delays else None
        self.out.details["latency_s"] = {k: round(v, 4) for k, v in summarize(delays).items()}
        self.out.details["latency_events"] = len(sent)
        self.out.details["latency_events_unmatched"] = missing

    async def _close_cycles(self) -> None:
        say("phase (d): close the cycle of every account (close_due_cycles, worker stopped)")
        pool = await create_pool(self.settings)
        as_of = self.period_end + timedelta(seconds=self.settings.cycle_close_grace_s, hours=1)
        meter = Meter("invoices", len(self.accounts), unit="invoices")
        try:
            report = await close_due_cycles(
                pool,
                load_catalog(self.settings),
                self.settings,
                as_of,
                batch_size=self.o.close_batch,
                progress=lambda r: meter.set(r.invoices),
            )
        finally:
            await pool.close()
        meter.done()
        self.out.figures["invoices_per_s"] = round(report.per_second)
        self.out.details["invoices"] = {
            "issued": report.issued,
            "held": report.held,
            "skipped": report.skipped,
            "seconds": round(report.seconds, 2),
            "errors": report.errors[:5],
        }

    async def _check_counts(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            counts = {
                "usage_events": await conn.fetchval("SELECT count(*) FROM usage_events"),
                "dead_letters": await conn.fetchval("SELECT count(*) FROM dead_letters"),
                "parked_usage": await conn.fetchval("SELECT count(*) FROM parked_usage"),
                "invoices": await conn.fetchval("SELECT count(*) FROM invoices"),
            }
        finally:
            await conn.close()
        expected = self.o.events + int(self.out.details.get("latency_events", 0))
        counts["usage_events_expected"] = expected
        self.out.details["database_counts"] = counts
        if counts["usage_events"] != expected or counts["invoices"] != len(self.accounts):
            say(f"WARNING: counts differ from what was published: {counts}")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value)
