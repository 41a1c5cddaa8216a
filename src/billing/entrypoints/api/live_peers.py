"""The desk changes of one API process reach the pages of every other: NOTIFY after the action, LISTEN in each.

A claim, a reassignment, a release or a presence change is a live event of the API process that handled the request
(billing.entrypoints.api.live.LocalChanges); behind a load balancer, the other desks of the centre are connected to
other processes. So every process sends its local changes on the PostgreSQL channel CHANNEL and pushes those of the
others to its own pages. Why PostgreSQL and not a Kafka topic: docs/desk.md, "Across API processes".

- Sent once the route has answered (its transaction committed, so no listener hears of an action that did not
  happen), from a queue one task drains: the action neither waits for the send nor fails with it. A change that
  cannot be sent (the queue full, the database away or slow) is logged and counted
  (billing_api_live_peer_send_failures_total); the other processes' pages see it at their next change.
- A process skips its own changes (the payload names its origin): it pushed them to its pages already.
- The listener holds one connection of its own (LISTEN lasts as long as a session; a pooled connection is handed to
  other requests). When it drops (a database restart closes it at once; a silent network is found by a ping), it
  connects again and sends `reset` to its pages: they may have missed changes meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable

import asyncpg
import orjson

from billing.entrypoints.api.live import Hub, LiveEvent
from billing.entrypoints.api.metrics import ApiMetrics
from billing.platform.logs import get_logger

CHANNEL = "billing_live_changes"
SEND_QUEUE = 1000  # changes waiting to be sent; a database away for longer loses the rest (counted)
SEND_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 10.0
RETRY_S = 1.0
PING_S = 10.0
log = get_logger("billing.api.live")


def encode(origin: str, event: LiveEvent) -> str:
    """The NOTIFY payload: ids only, like the event itself (any session of the database may LISTEN)."""
    change = {
        "origin": origin,
        "type": event.type,
        "task_id": event.task_id,
        "agent_id": event.agent_id,
        "concerns": list(event.concerns),
    }
    return orjson.dumps(change).decode()


def receive(hub: Hub, origin: str, payload: str) -> LiveEvent | None:
    """Push another process's change to this process's pages; None for this process's own change (pushed to its
    pages when it was made) and for a payload that is not a change."""
    try:
        change = orjson.loads(payload)
        if change["origin"] == origin:
            return None
        concerns = tuple(str(a) for a in change.get("concerns") or ())
        return hub.publish(
            str(change["type"]), _text(change.get("task_id")), None, _text(change.get("agent_id")), concerns
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        log.warning("unreadable live change skipped")
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class PeerChanges:
    """Started with the server (``start``); ``tell`` is what LocalChanges calls after each successful action."""

    def __init__(self, hub: Hub, dsn: str, pool: Callable[[], Awaitable[asyncpg.Pool]], metrics: ApiMetrics) -> None:
        self.hub, self.metrics, self._dsn, self._pool = hub, metrics, dsn, pool
        self.origin = secrets.token_hex(8)  # this process, in the payloads it sends
        self.listening = asyncio.Event()  # set while the LISTEN holds
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(maxsize=SEND_QUEUE)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._send_all(), name="live-peers-send"),
            loop.create_task(self._listen(), name="live-peers-listen"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def tell(self, event: LiveEvent) -> None:
        """Queue a local change for the other processes; never waits, never raises."""
        if not self._tasks:
            return  # an app driven in-process without its lifespan (tests): no server, no other process to tell
        try:
            self._outgoing.put_nowait(encode(self.origin, event))
        except asyncio.QueueFull:
            self._failed("too many changes waiting to be sent")

    async def _send_all(self) -> None:
        while True:
            payload = await self._outgoing.get()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that arrives as its
                # inner call completes, and stop() then waited for ever on this task (seen in the suite).
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._send(payload)
            except Exception as exc:  # noqa: BLE001 - the action stands; only the other processes' pages wait
                self._failed(repr(exc))

    async def _send(self, payload: str) -> None:
        pool = await self._pool()
        await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    def _failed(self, error: str) -> None:
        self.metrics.live_peer_send_failures.inc()
        log.warning("a desk change was not sent to the other API processes", error=error)

    async def _listen(self) -> None:
        dropped = False
        while True:
            try:
                await self._follow(reset_pages=dropped)
                log.warning("the connection listening for desk changes was lost; connecting again")
            except Exception as exc:  # noqa: BLE001 - the database may be away; the pages keep their own process's
                log.warning("desk changes of the other API processes not followed; retrying", error=repr(exc))
            dropped = True
            await asyncio.sleep(RETRY_S)

    async def _follow(self, reset_pages: bool) -> None:
        """LISTEN on a connection of its own until it is lost; `reset_pages` after a connection that was."""
        # Named, so an operator sees it in pg_stat_activity (one per API process, beside its pool).
        named = {"application_name": f"billing-api-live-{self.origin}"}
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            conn = await asyncpg.connect(self._dsn, server_settings=named)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            if reset_pages:  # listening again now, so a page that reloads on `reset` misses nothing after it
                self.metrics.live_listener_reconnects.inc()
                self.hub.reset()
                log.info("desk changes of the other API processes followed again")
            self.listening.set()
            await _until_lost(conn, lost)
        finally:
            self.listening.clear()
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        receive(self.hub, self.origin, str(payload))


async def _until_lost(conn: asyncpg.Connection, lost: asyncio.Event) -> None:
    """Returns when the connection is gone: closed by the server (a restart) at once, a silent network by a ping
    that does not answer (raises)."""
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PING_S):  # not wait_for: see PeerChanges._send_all
                await lost.wait()
            return
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await conn.fetchval("SELECT 1")
