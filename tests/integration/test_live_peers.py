"""Desk changes between API processes on the real PostgreSQL (billing.entrypoints.api.live_peers): two relays in
this process stand for two API processes, each with its hub, pool and listening connection. A change one sends is
pushed by the other once; a listening connection the server drops is opened again and its pages are told to
reset; a change PostgreSQL refuses is counted and the next one still goes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest

from billing.entrypoints.api.live import RESET, Hub, LiveEvent
from billing.entrypoints.api.live_peers import PeerChanges
from billing.entrypoints.api.metrics import ApiMetrics
from billing.platform.context import LazyPool, create_pool
from billing.platform.settings import Settings

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def api_process(live: Settings) -> AsyncIterator[PeerChanges]:
    pool = LazyPool(live)
    peers = PeerChanges(Hub(), live.require_database_url(), pool.get, ApiMetrics())
    peers.start()
    try:
        await asyncio.wait_for(peers.listening.wait(), 10)
        yield peers
    finally:
        await peers.stop()
        await pool.close()


def pushed(peers: PeerChanges) -> list[LiveEvent]:
    return peers.hub.since(f"{peers.hub.epoch}-0") or []


async def until(condition: Callable[[], object], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not reached"
        await asyncio.sleep(0.02)


def counted(peers: PeerChanges, metric: str) -> float | None:
    return peers.metrics.registry.get_sample_value(metric)


def local_change(peers: PeerChanges, task_id: str, agent_id: str, *concerns: str) -> LiveEvent:
    """What LocalChanges does after a successful action: push it here, tell the other processes."""
    event = peers.hub.publish("local", task_id, None, agent_id, concerns)
    peers.tell(event)
    return event


async def test_a_change_reaches_the_other_process_once_and_is_not_pushed_twice_where_it_was_made(live) -> None:
    async with api_process(live) as a, api_process(live) as b:
        made = local_change(a, "tsk-claimed", "agt-ana", "agt-bo")
        await until(lambda: any(e.task_id == "tsk-claimed" for e in pushed(b)))
        (relayed,) = [e for e in pushed(b) if e.task_id == "tsk-claimed"]
        assert (relayed.agent_id, relayed.concerns) == ("agt-ana", ("agt-bo",))
        local_change(b, "tsk-marker", "agt-cy")  # sent after A's own NOTIFY reached A's listener too
        await until(lambda: any(e.task_id == "tsk-marker" for e in pushed(a)))
        assert [e.task_id for e in pushed(a)] == ["tsk-claimed", "tsk-marker"]  # its own change once
        assert pushed(a)[0] == made


async def test_a_dropped_listener_connects_again_and_resets_its_pages(live) -> None:
    pool = await create_pool(live)
    try:
        async with api_process(live) as a, api_process(live) as b:
            page = b.hub.listen()  # a page connected to B
            name = f"billing-api-live-{b.origin}"  # B's listening connection, as an operator finds it
            terminated = await pool.fetchval(
                "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name
            )
            assert terminated
            reset = await asyncio.wait_for(page.get(), 10)
            assert reset.type == RESET  # the page reloads its panels: it may have missed changes meanwhile
            assert b.listening.is_set() and counted(b, "billing_api_live_listener_reconnects_total") == 1
            local_change(a, "tsk-after", "agt-ana")
            assert (await asyncio.wait_for(page.get(), 5)).task_id == "tsk-after"  # listening again
    finally:
        await pool.close()


async def test_a_change_postgresql_refuses_is_counted_and_the_next_one_still_goes(live) -> None:
    async with api_process(live) as a, api_process(live) as b:
        local_change(a, "t" * 9000, "agt-ana")  # a NOTIFY payload over 8,000 bytes is refused by the server
        local_change(a, "tsk-next", "agt-ana")
        await until(lambda: any(e.task_id == "tsk-next" for e in pushed(b)))
        assert counted(a, "billing_api_live_peer_send_failures_total") == 1
        assert all(e.task_id != "t" * 9000 for e in pushed(b))
