"""Small helpers for integration tests: unique ids per test, publish, wait for rows, read a worker's metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

import asyncpg

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def recent_period(now: datetime) -> tuple[date, date, date]:
    """Period start, period end and due date of an upstream invoice issued `now` that is not overdue for weeks.

    Fixed dates age: the shared stack's event-time clock follows the usage tests stamp with today, so an invoice
    due on a fixed past date is dunned (called, suspended, closed) once enough days have passed, and the tests on
    its account change outcome with the calendar."""
    return (now - timedelta(days=30)).date(), now.date(), now.date() + timedelta(days=14)


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


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
        return response.status, response.read().decode()


def metric_value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
