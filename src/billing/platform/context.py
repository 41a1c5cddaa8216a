"""What a worker process shares between its agents: settings, metrics, the database pool, the producer.

Connections are opened on first use inside the running event loop, never at import or construction time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from billing.platform.logs import get_logger
from billing.platform.metrics import Metrics
from billing.platform.settings import Settings


class WorkerContext:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.log = get_logger("billing.worker")
        self.outbox_signal = asyncio.Event()
        self._pool = LazyPool(settings)
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        # Next offset to handle per (topic, partition), for the lag gauge; the broker's copy is authoritative.
        self._done: dict[tuple[str, int], int] = {}

    def done_up_to(self, topic: str, partition: int, next_offset: int) -> None:
        self._done[(topic, partition)] = next_offset

    def observe_lag(self, topic: str, partition: int, highwater: int | None) -> None:
        done = self._done.get((topic, partition))
        if highwater is not None and done is not None:
            self.metrics.consumer_lag.labels(topic, str(partition)).set(max(highwater - done, 0))

    async def pool(self) -> asyncpg.Pool:
        return await self._pool.get()

    async def database_answers(self) -> bool:
        return await self._pool.answers()

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            async with self._lock:
                if self._producer is None:
                    producer = build_producer(self.settings)
                    try:
                        await producer.start()
                    except BaseException:
                        await producer.stop()
                        raise
                    self._producer = producer
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self._pool.close()


class LazyPool:
    """One asyncpg pool, opened by the first caller inside the running loop (never at import or construction)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await create_pool(self._settings)
        return self._pool

    async def answers(self, timeout_s: float = 2.0) -> bool:
        """True when the database answers a trivial query within `timeout_s`, opening the pool if need be: what
        a health check asks (an unreachable server must not hold the check for asyncpg's 60 s connect timeout)."""

        async def probe() -> bool:
            pool = await self.get()
            return await pool.fetchval("SELECT 1") == 1

        try:
            return await asyncio.wait_for(probe(), timeout_s)
        except Exception:  # noqa: BLE001 - whatever the failure, the answer is "no"
            return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def create_pool(
    settings: Settings,
    max_size: int | None = None,
    prepare: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    reset: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """``prepare`` runs once on each new connection; ``reset`` replaces asyncpg's reset on release."""

    async def init(conn: asyncpg.Connection) -> None:
        # jsonb columns in and out as Python objects, through orjson.
        await conn.set_type_codec(
            "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )
        if prepare is not None:
            await prepare(conn)

    return await asyncpg.create_pool(
        settings.require_database_url(),
        min_size=1,
        max_size=max_size or settings.db_pool_max,
        init=init,
        reset=reset,
    )


def build_producer(settings: Settings) -> AIOKafkaProducer:
    """acks=all always; idempotence where the broker supports it (Apache Kafka yes, embedded Tansu no)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.require_bootstrap(),
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=5,
        max_batch_size=256 * 1024,
        client_id=f"{settings.app_id}-producer",
    )
