"""Small helpers for integration tests: unique ids per test, publish, wait for rows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout_s: float = 60) -> T:
    """Poll `probe` until `ok(value)`; fail with the last value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s; last value: {value!r}")
        await asyncio.sleep(0.2)


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def fetchval(dsn: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()
