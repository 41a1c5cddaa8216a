"""Waiting for the stack under test: the worker's log reaching an event count, a table reaching a row count.

Each wait gives up after _WAIT_TIMEOUT_S with what it saw, so a stuck worker ends the run instead of hanging it.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tools.bench.progress import Meter
from tools.bench.worklog import LogFollower

_WAIT_TIMEOUT_S = 900.0


async def follow(follower: LogFollower, target: int, meter: Meter | None) -> None:
    deadline = time.monotonic() + _WAIT_TIMEOUT_S
    while follower.received < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker handled {follower.received:,} of {target:,} events in {_WAIT_TIMEOUT_S:.0f} s")
        follower.poll()
        if meter:
            meter.set(follower.received)
        await asyncio.sleep(0.1)


async def wait_count(dsn: str, query: str, target: int, meter: Meter) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + _WAIT_TIMEOUT_S
        while (count := await conn.fetchval(query)) < target:
            meter.set(count)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count:,} of {target:,} after {_WAIT_TIMEOUT_S:.0f} s: {query}")
            await asyncio.sleep(0.5)
        meter.set(count)
        return meter.done()
    finally:
        await conn.close()


async def fetchval(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()
