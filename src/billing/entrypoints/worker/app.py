"""The Faust application, built by a factory: nothing connects or reads the environment at import time."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import faust
from aiohttp.web import BaseSite, SockSite
from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP, Message
from faust.web.base import Web
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from billing.entrypoints.worker import followers, services, web, workflow
from billing.platform.context import WorkerContext
from billing.platform.settings import Settings

# The batch being handed out ends at its next record once the flow is off; only an offset commit in the drain
# loop can hold it longer. Bounded so that a stuck commit cannot hold the recovery.
_BATCH_DONE_TIMEOUT_S = 10.0


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    """Seeks a partition that has no committed offset back to its first record, as it does one that has.

    Why: after an assignment Faust recovers the tables while aiokafka already fetches the stream partitions;
    records taken then are dropped (the flow is off), and Faust relies on the seek to the committed offsets that
    ends recovery to read them again. aiokafka's seek_to_committed skips a partition whose committed offset is
    None (or 0), so such a partition kept the position past the dropped records and they were never handled.
    It happens when a worker dies before its partitions' first offset commit and the restarted worker gets them
    back (tests/integration/test_crash_before_commit.py). Broker-independent: Apache Kafka behaves the same.
    Seeking to the beginning is what consumer_auto_offset_reset="earliest" means for a partition never committed;
    effects are idempotent, so the records handled twice change nothing.
    """

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed_or_start)

    async def _seek_to_committed_or_start(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()  # runs in the consumer's thread, like the seek it extends
        committed = await consumer.seek_to_committed()
        assigned = consumer.assignment()
        never_committed = [tp for tp, offset in committed.items() if not offset and tp in assigned]
        if never_committed:
            await consumer.seek_to_beginning(*never_committed)
        return committed


class _Consumer(faust_kafka.Consumer):
    """Hands out no record between the seek to the committed offsets and the resumption of the flow.

    Why: the table recovery resumes the stream partitions, seeks them to their committed offsets, then resumes
    the flow, which clears the streams' buffers; the flow is already on (it read the changelogs). A record the
    fetcher returned after the seek reached a buffer, was cleared with it, and the fetch position was past it:
    never handled. Later records were, so every consumer's watermark passed it and the offset commit stopped at
    the gap for good (kill -9 under load: 12 records after the committed offset of one partition,
    tests/unit/test_consumer_seek.py). Stopping the flow first makes a fetch answered during the seek seek
    back again (Faust's own rule for records fetched while the flow is off), and waiting for the batch being
    handed out keeps its read offsets from landing after the seek's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch_done = asyncio.Event()  # clear while a batch of getmany is being handed out
        self._batch_done.set()

    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109 - Faust's
        try:
            async for item in super().getmany(timeout):
                self._batch_done.clear()
                yield item
        finally:
            self._batch_done.set()

    async def perform_seek(self) -> None:
        # Every caller resumes the flow after the seek (faust/tables/recovery.py), or it was off already.
        self.stop_flow()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._batch_done.wait(), _BATCH_DONE_TIMEOUT_S)
        await super().perform_seek()


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer


class _InheritedSocketWeb(AiohttpWeb):
    """Serves on the listening socket the launcher bound and handed down (`billing worker --listen-fd`): the port
    is held from before the worker starts, so no other process can take it in between (src/billing/entrypoints/stack/launcher.py)."""

    def _new_transport_tcp(self) -> BaseSite:
        app = self.app
        if not isinstance(app, BillingApp) or app.listen_fd is None:
            raise RuntimeError("the inherited-socket web server serves a BillingApp given --listen-fd")
        return SockSite(self._runner, socket.socket(fileno=app.listen_fd))


class BillingApp(faust.App):
    ctx: WorkerContext
    listen_fd: int | None = None

    def _new_transport(self) -> faust_kafka.Transport:
        return _Transport(self.conf.broker_consumer, self)

    def _new_web(self) -> Web:
        return _InheritedSocketWeb(self) if self.listen_fd is not None else super()._new_web()

    async def on_shutdown(self) -> None:
        # After agents and loops have stopped, so nothing is mid-transaction when the pool closes.
        await super().on_shutdown()
        await self.ctx.close()


def faust_broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip())


def create_app(settings: Settings, worker_index: int = 0, listen_fd: int | None = None) -> BillingApp:
    app = BillingApp(
        settings.app_id,
        broker=faust_broker_url(settings.require_bootstrap()),
        store="memory://",
        datadir=str(settings.state_dir / f"worker-{worker_index}"),
        topic_partitions=settings.workflow_partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # One record per produced batch: Tansu under-reports a partition's end offset after a multi-record
        # batch, and a table restored from its changelog would then miss updates (broker-notes.md). Only
        # Faust's own producer (table changelogs) is affected; events go through the outbox's producer.
        producer_max_batch_size=1,
        # Do not wait for in-flight events when partitions are revoked: with two agents on one topic, an event
        # dropped from one agent's buffer by the revocation stays unacknowledged and the worker waits for it
        # forever (faust-streaming issue 133; seen here after a kill -9). Every effect is idempotent, so the
        # new owner handling that event again changes nothing.
        stream_wait_empty=False,
        web_host=settings.worker_web_host,
        web_bind=settings.worker_web_host,
        web_port=settings.worker_web_port + worker_index,
        web_in_thread=False,
    )
    app.listen_fd = listen_fd  # before the routes below create the web server
    app.ctx = WorkerContext(settings)
    workflow.register(app, app.ctx)
    services.register(app, app.ctx)
    followers.register_queue_metrics(app, app.ctx)
    web.register(app, app.ctx)
    return app
