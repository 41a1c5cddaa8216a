"""The Faust application, built by a factory: nothing connects or reads the environment at import time."""

from __future__ import annotations

import faust

from streams.agents import queue_metrics, services, workflow
from streams.context import WorkerContext
from streams.settings import Settings
from streams import web


class BillingApp(faust.App):
    ctx: WorkerContext

    async def on_shutdown(self) -> None:
        # After agents and loops have stopped, so nothing is mid-transaction when the pool closes.
        await super().on_shutdown()
        await self.ctx.close()


def faust_broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip())


def create_app(settings: Settings, worker_index: int = 0) -> BillingApp:
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
    app.ctx = WorkerContext(settings)
    workflow.register(app, app.ctx)
    services.register(app, app.ctx)
    queue_metrics.register(app, app.ctx)
    web.register(app, app.ctx)
    return app
