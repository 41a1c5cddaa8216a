"""The worker's Faust consumer after a rebalance: no record is handed out between the seek to the committed
offsets and the resumption of the flow (which clears the streams' buffers), so none is dropped unseen.

Reproduces the interleaving measured on the integration stack (tests/integration/test_queue_metrics.py, kill -9
under load): the fetcher thread returned a partition's first records right after the recovery's seek, the drain
loop handed them to the agents' buffers, the recovery's `flow_control.resume()` cleared those buffers, and the
fetch position was already past them: the records at committed..committed+11 were never handled, later ones
were, and the offset commit stayed at the committed offset for good (its gap never filled).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import mode
from faust.types import TP

from billing.entrypoints.worker.app import create_app
from billing.platform.settings import load_settings

TASKS = TP("billing.task-events.v1", 0)
COMMITTED = 383


class FakeBroker:
    """The fetch position of one partition, moved by the seek and by each fetch (like aiokafka's)."""

    def __init__(self) -> None:
        self.position = COMMITTED  # set by the assignment before the recovery
        self.sought = asyncio.Event()

    async def seek_to_committed(self) -> dict[TP, int]:
        self.position = COMMITTED
        self.sought.set()
        await asyncio.sleep(0.05)  # the committed offsets of the other partitions, one round trip each
        return {TASKS: COMMITTED}

    async def getmany(self, active_partitions: set[TP], timeout: float) -> dict[TP, list]:  # noqa: ASYNC109
        await self.sought.wait()  # the fetcher thread answers once the seek is done (the race's window)
        if TASKS not in active_partitions:
            await asyncio.sleep(0.01)
            return {}
        batch = [SimpleNamespace(offset=o) for o in range(self.position, self.position + 12)]
        self.position += 12
        return {TASKS: batch}


async def test_no_record_is_lost_between_the_seek_and_the_resumed_flow() -> None:
    settings = load_settings(kafka_bootstrap_servers="127.0.0.1:9", state_dir="/tmp/billing-unit-consumer")
    app = create_app(settings)
    consumer = app.consumer
    broker = FakeBroker()
    buffered: list[int] = []  # the agents' stream buffers

    async def deliver(message: SimpleNamespace) -> None:
        buffered.append(message.offset)

    consumer.seek_to_committed = broker.seek_to_committed
    consumer._getmany = broker.getmany
    consumer._to_message = lambda tp, record: SimpleNamespace(
        tp=tp, offset=record.offset, topic=tp.topic, key=None, value=None
    )
    consumer.highwater = lambda tp: broker.position
    consumer.callback = deliver
    consumer._set_active_tps(set())  # the stream partitions are paused during the table recovery
    consumer.resume_flow()  # ... while the flow reads the changelogs

    fetcher = mode.Service()
    drain = asyncio.create_task(consumer._drain_messages(fetcher))
    try:
        # Recovery._resume_streams (faust/tables/recovery.py), step by step:
        consumer.resume_partitions({TASKS})
        await consumer.perform_seek()
        app.flow_control.resume()
        buffered.clear()  # what flow_control.resume() does to the streams' buffers
        consumer.resume_flow()
        for _ in range(200):
            if len(buffered) >= 24:
                break
            await asyncio.sleep(0.01)
    finally:
        await fetcher.stop()
        consumer._stopped.set()
        drain.cancel()
    assert buffered[:24] == list(range(COMMITTED, COMMITTED + 24))
