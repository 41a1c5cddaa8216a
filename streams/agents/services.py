"""The worker's non-Faust loops: usage batches, parked usage, the outbox relay (and the cycle closer)."""

from __future__ import annotations

import faust

from streams.catalog_config import load_catalog
from streams.context import WorkerContext
from streams.loops import LoopService
from streams.outbox import OutboxRelay
from streams.parked_usage import ParkedUsageSweeper
from streams.usage_consumer import UsageConsumer
from streams.usage_writer import UsageWriter


def register(app: faust.App, ctx: WorkerContext) -> None:
    writer = UsageWriter(load_catalog(ctx.settings), ctx.settings)
    app.service(LoopService("usage-batch", UsageConsumer(ctx, writer).run))
    app.service(LoopService("parked-usage", ParkedUsageSweeper(ctx, writer).run))
    app.service(LoopService("outbox-relay", OutboxRelay(ctx).run))
