"""The worker's non-Faust loops: usage and payment batches, parked usage, the outbox relay (and the cycle closer)."""

from __future__ import annotations

import faust

from billing.care.config import load_care_config
from billing.care.sweeper import QueueSweeper
from billing.collections.dunning_config import load_policy
from billing.collections.dunning_runner import DunningLoop
from billing.collections.payment_consumer import PaymentConsumer
from billing.invoicing.catalog_config import load_catalog
from billing.invoicing.loop import CycleCloser
from billing.platform.context import WorkerContext
from billing.platform.loops import LoopService
from billing.platform.outbox import OutboxRelay
from billing.usage.consumer import UsageConsumer
from billing.usage.parked import ParkedUsageSweeper
from billing.usage.writer import UsageWriter


def register(app: faust.App, ctx: WorkerContext) -> None:
    catalog = load_catalog(ctx.settings)
    writer = UsageWriter(catalog, ctx.settings)
    _start_with(app, LoopService("usage-batch", UsageConsumer(ctx, writer).run))
    # Payments a batch per transaction (their projection's guarantees, set-based): src/billing/collections/.
    _start_with(app, LoopService("payments-batch", PaymentConsumer(ctx, load_policy(ctx.settings)).run))
    _start_with(app, LoopService("parked-usage", ParkedUsageSweeper(ctx, writer).run))
    _start_with(app, LoopService("outbox-relay", OutboxRelay(ctx).run))
    # Every worker runs the closer; SKIP LOCKED gives concurrent closers disjoint batches of due accounts.
    _start_with(app, LoopService("cycle-closer", CycleCloser(ctx, catalog).run))
    # Every worker sweeps the queues (expired leases, aging, widening); SKIP LOCKED keeps sweepers apart.
    care = load_care_config(ctx.settings)
    _start_with(app, LoopService("queue-sweeper", QueueSweeper(ctx, care).run))
    # Every worker runs dunning on the closer's event-time clock; SKIP LOCKED and one row per step keep it once.
    # Its collections calls are ranked with the care configuration's weights.
    _start_with(app, LoopService("dunning", DunningLoop(ctx, load_policy(ctx.settings), care.weights).run))


def _start_with(app: faust.App, loop: LoopService) -> None:
    # faust annotates App.service as taking a service class; its implementation (App._prepare_subservice) takes
    # an instance too, which is what a loop bound to this worker's context needs.
    app.service(loop)  # type: ignore[arg-type]
