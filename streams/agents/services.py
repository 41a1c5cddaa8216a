"""The worker's non-Faust loops: the usage batch consumer and the outbox relay."""

from __future__ import annotations

import faust

from streams.context import WorkerContext
from streams.loops import LoopService
from streams.outbox import OutboxRelay
from streams.usage_consumer import UsageConsumer


def register(app: faust.App, ctx: WorkerContext) -> None:
    app.service(LoopService("usage-batch", UsageConsumer(ctx).run))
    app.service(LoopService("outbox-relay", OutboxRelay(ctx).run))
