"""The payments bench's `--path worker`: one worker process applying a backlog of payments from the broker.

The other paths time the apply step in this process; this one is the whole worker as it runs in production
(`billing worker`: the payments consumer's fetches from the broker, decoding, the batch transactions, the offset
commits, beside the Faust agents of the other topics). The backlog is published while no worker runs, then one
worker starts; the rate is counted from the first stored payment to the last, so the worker's start-up and its
consumer-group join are not in it, as in the usage benchmark (tools/bench/run.py, phase b).
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Record, publish
from billing.platform.decoding import RawMessage
from tools.bench.memory import cpu_seconds
from tools.bench.progress import Meter

_POLL_S = 0.05
_TIMEOUT_S = 600.0


async def worker_rate(launcher: Launcher, dsn: str, bootstrap: str, messages: list[RawMessage]) -> dict[str, float]:
    records = [Record(m.topic, m.key, m.value or b"") for m in messages]
    meter = Meter("publish payments", len(records))
    await publish(bootstrap, records, on_sent=meter.add)
    meter.done()
    await asyncio.to_thread(launcher.start_workers, 1)
    pid = launcher.workers[0].pid
    postgres = launcher.postgres.pid if launcher.postgres else None
    conn = await asyncpg.connect(dsn)
    try:
        first_count, first_at = await _first_stored(conn)
        cpu_at_first = cpu_seconds(pid), cpu_seconds(postgres, with_children=True)
        meter = Meter("payments applied by one worker", len(records) - first_count, unit="payments")
        deadline = time.monotonic() + _TIMEOUT_S
        while (count := await conn.fetchval("SELECT count(*) FROM payments")) < len(records):
            meter.set(count - first_count)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count:,} of {len(records):,} payments applied after {_TIMEOUT_S:.0f} s")
            await asyncio.sleep(_POLL_S)
        seconds = time.monotonic() - first_at
        cpu = cpu_seconds(pid) - cpu_at_first[0], cpu_seconds(postgres, with_children=True) - cpu_at_first[1]
        meter.done()
    finally:
        await conn.close()
    applied = len(records) - first_count
    return {
        "seconds": round(seconds, 3),
        "applied_per_second": round(applied / seconds, 1),
        # CPU per payment does not depend on what else runs on the machine: the worker's capacity on a core of
        # its own is 1e6 / this; PostgreSQL's (all its backends) is the other side of the same work.
        "worker_cpu_us_per_payment": round(1e6 * cpu[0] / applied, 1),
        "postgres_cpu_us_per_payment": round(1e6 * cpu[1] / applied, 1),
    }


async def _first_stored(conn: asyncpg.Connection) -> tuple[int, float]:
    deadline = time.monotonic() + _TIMEOUT_S
    while (count := await conn.fetchval("SELECT count(*) FROM payments")) == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker applied no payment")
        await asyncio.sleep(_POLL_S)
    return count, time.monotonic()
