"""One agent per workflow topic (accounts, invoices issued, calls, disputes, discounts).

Values are read as raw bytes so that decoding happens in our code, where a bad record is dead-lettered with
its position instead of being skipped by Faust. Concurrency stays 1: with more, Faust may commit an offset
before its event is done (faust-streaming issue 606).
"""

from __future__ import annotations

import faust

from streams.agents import retention
from streams.context import WorkerContext
from streams.decoding import RawMessage
from streams.processor import EventProcessor, Handler
from streams.projections import accounts, calls, ledger
from streams.queues.config import load_care_config
from streams.queues.routing_tasks import with_task_routing
from streams.topics import ACCOUNTS, CUSTOMER_CALLS, DISCOUNTS_GRANTED, DISPUTES, INVOICES_ISSUED, TopicSpec

WORKFLOW_STREAMS: tuple[tuple[TopicSpec, dict[str, Handler]], ...] = (
    (ACCOUNTS, accounts.HANDLERS),
    (INVOICES_ISSUED, ledger.INVOICE_HANDLERS),
    (CUSTOMER_CALLS, calls.HANDLERS),
    (DISPUTES, ledger.DISPUTE_HANDLERS),
    (DISCOUNTS_GRANTED, ledger.DISCOUNT_HANDLERS),
)


def register(app: faust.App, ctx: WorkerContext) -> None:
    care = load_care_config(ctx.settings)
    for spec, handlers in WORKFLOW_STREAMS:
        # Calls, disputes and held invoices also become agent-queue tasks in the projection's transaction.
        routed = with_task_routing(spec, handlers, care, ctx.metrics)
        _register_one(app, ctx, spec, EventProcessor(spec, routed, ctx))
    retention.register(app, ctx)  # follows handled cases to their 30/60/90-day outcomes


def _register_one(app: faust.App, ctx: WorkerContext, spec: TopicSpec, processor: EventProcessor) -> None:
    topic = app.topic(
        spec.name, key_serializer="raw", value_serializer="raw", partitions=spec.partitions(ctx.settings)
    )

    async def consume(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            await processor.process(
                RawMessage(message.topic, message.partition, message.offset, message.key, message.value,
                           message.timestamp)
            )
            ctx.done_up_to(message.topic, message.partition, message.offset + 1)

    app.agent(topic, name=f"{spec.name}.agent", concurrency=1)(consume)
