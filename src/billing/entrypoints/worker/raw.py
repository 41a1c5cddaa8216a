"""Subscribing an agent to a topic as raw bytes, the one way every agent here does it.

Values stay bytes so that decoding happens in our code, where a bad record is dead-lettered with its position
instead of being skipped by Faust. Concurrency stays 1: with more, Faust may commit an offset before its event
is done (faust-streaming issue 606).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import faust

from billing.platform.decoding import RawMessage
from billing.platform.records import RecordProcessor
from billing.platform.settings import Settings
from billing.platform.topics import TopicSpec

Handle = Callable[[RawMessage], Awaitable[None]]


def raw_agent(app: faust.App, spec: TopicSpec, settings: Settings, name: str, handle: Handle) -> None:
    topic = app.topic(spec.name, key_serializer="raw", value_serializer="raw", partitions=spec.partitions(settings))

    async def consume(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            await handle(
                RawMessage(
                    message.topic, message.partition, message.offset, message.key, message.value, message.timestamp
                )
            )

    app.agent(topic, name=name, concurrency=1)(consume)


def record_agent(app: faust.App, processor: RecordProcessor, name: str) -> None:
    """The agent of one RecordConsumer (src/billing/platform/records.py), named `<topic>.<name>`."""

    async def handle(message: RawMessage) -> None:
        await processor.process(message)

    spec = processor.consumer.spec
    raw_agent(app, spec, processor.ctx.settings, f"{spec.name}.{name}", handle)
