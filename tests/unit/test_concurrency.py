import asyncio

import pytest

from billing.platform.concurrency import all_or_none


async def test_results_come_back_in_order_of_the_coroutines() -> None:
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    assert await all_or_none([value(1, 0.02), value(2, 0.0), value(3, 0.01)]) == [1, 2, 3]


async def test_the_first_error_cancels_the_others_before_the_call_returns() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def broken() -> None:
        await asyncio.sleep(0)
        raise ValueError("lane failed")

    with pytest.raises(ValueError, match="lane failed"):
        await all_or_none([slow(), broken()])
    assert cancelled.is_set()


async def test_cancelling_the_call_cancels_every_coroutine() -> None:
    started, cancelled = [], []

    async def waiting(n: int) -> None:
        started.append(n)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(n)
            raise

    call = asyncio.ensure_future(all_or_none([waiting(1), waiting(2)]))
    while len(started) < 2:  # noqa: ASYNC110 - lets the two coroutines start; nothing else to wait on
        await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert sorted(cancelled) == [1, 2]
