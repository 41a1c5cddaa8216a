"""Does the broker still hold what it acknowledged? The outbox relay asks before it marks rows published.

Why an acknowledgement is not enough (issue 16 point 25): the embedded broker (Tansu, memory storage) loses every
topic when it restarts, and then answers a produce request for a topic it does not have with success, an offset
and no error, while keeping the records where no consumer can read them. aiokafka's producer still holds the
topic's metadata from before the restart, so it never asks for metadata again (which would have created the
topic). Every invoice issued while the broker was down was acknowledged that way and marked published, and
none was on the topic afterwards. So, besides the acknowledgement (acks=all, awaited):

- a row counts as published only if, after its acknowledgement, the broker's metadata lists its topic;
- the offsets the broker acknowledged are kept per topic and partition (`outbox_offsets`, written with the rows
  marked published): an acknowledged offset below that watermark, or a topic we published to that the broker no
  longer has, or a partition whose end offset fell below what we published, means the broker lost data. The
  relay looks at end offsets every CHECK_EVERY_S, so a loss is found even when nothing is being published.

A loss is a row of `broker_data_losses` (one open row per topic), an error in the log saying what to do,
`billing_broker_data_lost_total{topic,what}`, and /health "degraded" on every worker until `billing outbox
replay` re-publishes the events (consumers are idempotent by event id). The lost offsets' watermarks are
forgotten, so publishing goes on into the broker's new log.

Only what we published is checked: an upstream producer's records lost by the broker (usage, say) cannot be
told from the consumer side on Tansu, whose end offsets run behind the last record after a multi-record batch.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.structs import RecordMetadata, TopicPartition

from billing.platform.context import WorkerContext
from billing.platform.topics import spec_for

CHECK_EVERY_S = 10.0
_FRESH_S = 1.0  # metadata this recent is good enough to decide what to send (never what to mark)
_LEGAL_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
Position = tuple[str, int]


class BrokerUnreachable(Exception):
    """The broker's metadata could not be read: nothing is sent or marked until it can be."""


class BrokerWatch:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.log = ctx.log.bind(path="outbox-relay")
        self._topics: dict[str, int] = {}
        self._read_at = float("-inf")
        self._checked_at = time.monotonic()

    async def sendable(self, conn: asyncpg.Connection, producer: AIOKafkaProducer, topics: set[str]) -> dict[str, str]:
        """Topics of this pass that must not be sent now, with why. A missing topic the system knows is created
        (with its configured partitions); if we had published to it, the broker lost it: recorded as a loss."""
        try:
            present = await self._metadata(producer, fresh=False)
        except BrokerUnreachable as error:
            return dict.fromkeys(topics, str(error))
        missing = topics - present.keys()
        if not missing:
            return {}
        known = await _published_topics(conn, missing)
        for topic in known:
            await self.record_loss(conn, topic, "topic_missing", f"the broker no longer has topic {topic}")
        refused = {}
        for topic in missing:
            reason = await self._create(topic)
            if reason:
                refused[topic] = reason
        self._read_at = float("-inf")  # what was just created must show in the next read
        return refused

    async def confirmed(
        self, conn: asyncpg.Connection, producer: AIOKafkaProducer, acked: list[tuple[asyncpg.Record, RecordMetadata]]
    ) -> tuple[list[asyncpg.Record], dict[str, str]]:
        """The acknowledged rows the broker demonstrably holds, and per other topic why not; moves the watermarks
        of the confirmed ones (in the caller's transaction, which marks them published)."""
        try:
            present = await self._metadata(producer, fresh=True)
        except BrokerUnreachable as error:
            return [], dict.fromkeys({row["topic"] for row, _ in acked}, f"{error} (after the acknowledgement)")
        refused = {
            row["topic"]: f"acknowledged, but the broker has no topic {row['topic']} (it accepts records for a topic"
            " it lacks and loses them): they are sent again"
            for row, _ in acked
            if row["topic"] not in present
        }
        spans = _spans((row["topic"], meta) for row, meta in acked if row["topic"] not in refused)
        marks = await _watermarks(conn, spans.keys())
        for (topic, partition), (low, _) in spans.items():
            if topic not in refused and (topic, partition) in marks and low < marks[(topic, partition)][0]:
                what = f"partition {partition} acknowledged offset {low}, below {marks[(topic, partition)][0]} before"
                await self.record_loss(conn, topic, "offsets_backwards", what)
                refused[topic] = f"offsets went backwards ({what}): the rows are sent again into the new log"
        confirmed = [row for row, _ in acked if row["topic"] not in refused]
        await _advance(conn, {pos: span for pos, span in spans.items() if pos[0] not in refused})
        return confirmed, refused

    async def check_if_due(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> None:
        """Every CHECK_EVERY_S: each partition we published to still exists and ends at or after our floor."""
        if time.monotonic() - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = time.monotonic()
        marks = await _watermarks(conn, None)
        if not marks:
            return
        try:
            metadata = await self._cluster(producer)
            present = set(metadata.topics())
            for topic in {t for t, _ in marks} - present:
                await self.record_loss(conn, topic, "topic_missing", f"the broker no longer has topic {topic}")
            asked = [pos for pos in marks if pos[0] in present]
            timeout_s = self.ctx.settings.outbox_send_timeout_s
            ends = await asyncio.wait_for(_end_offsets(producer, metadata, asked), timeout_s)
        except (TimeoutError, BrokerUnreachable, KafkaError, OSError) as error:
            self.log.info("broker check skipped: the broker does not answer", error=repr(error))
            return
        lost: set[str] = set()
        for (topic, partition), end in sorted(ends.items()):
            floor = marks[(topic, partition)][1]
            if end < floor and topic not in lost:
                lost.add(topic)
                what = f"partition {partition} ends at offset {end}, below the {floor} we had published"
                await self.record_loss(conn, topic, "offsets_backwards", what)

    async def record_loss(self, conn: asyncpg.Connection, topic: str, what: str, detail: str) -> None:
        # From the first acknowledgement of the log now lost; without a watermark, the oldest publish still kept.
        since = await conn.fetchval(
            "WITH gone AS (DELETE FROM outbox_offsets WHERE topic = $1 RETURNING since)"
            " SELECT COALESCE((SELECT min(since) FROM gone),"
            " (SELECT min(published_at) FROM outbox WHERE topic = $1 AND published_at IS NOT NULL))",
            topic,
        )
        opened = await conn.fetchval(
            "INSERT INTO broker_data_losses (topic, what, lost_since) SELECT $1, $2, $3"
            " WHERE NOT EXISTS (SELECT 1 FROM broker_data_losses WHERE topic = $1 AND resolved_at IS NULL)"
            " RETURNING id",
            topic,
            detail,
            since,
        )
        self.ctx.metrics.broker_data_lost.labels(topic, what).inc()
        if opened is None:
            return
        since_text = since.isoformat(timespec="seconds") if since else "the time it was last healthy"
        self.log.error(
            "the broker lost events the outbox had published",
            topic=topic,
            detail=detail,
            since=since_text,
            action=f"re-publish them: `billing outbox replay --since {since_text} --topic {topic}`"
            " (consumers skip what they already have by event id); until then /health says degraded",
        )

    async def _metadata(self, producer: AIOKafkaProducer, fresh: bool) -> dict[str, int]:
        if fresh or time.monotonic() - self._read_at > _FRESH_S:
            metadata = await self._cluster(producer)
            self._topics = {t: len(metadata.partitions_for_topic(t) or ()) for t in metadata.topics()}
            self._read_at = time.monotonic()
        return self._topics

    async def _cluster(self, producer: AIOKafkaProducer) -> ClusterMetadata:
        """All topics, in a request that names none: it never creates a topic, as a request for one may."""
        try:
            timeout_s = self.ctx.settings.outbox_send_timeout_s
            return await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
        except Exception as error:  # noqa: BLE001 - KafkaError, OSError, timeout: the broker cannot tell us
            raise BrokerUnreachable(f"the broker's metadata cannot be read ({error!r})") from error

    async def _create(self, topic: str) -> str | None:
        spec = spec_for(topic) if _LEGAL_NAME.fullmatch(topic) else None
        if spec is None:
            return f"the broker has no topic {topic!r}, and it is not one this system creates"
        settings = self.ctx.settings
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.require_bootstrap(), client_id=f"{settings.app_id}-admin"
        )
        try:
            await admin.start()
            new = NewTopic(topic, spec.partitions(settings), settings.replication_factor)
            answer = await admin.create_topics([new])
        except Exception as error:  # noqa: BLE001 - any failure leaves the topic failing, with the reason
            return f"the broker has no topic {topic} and creating it failed ({error!r})"
        finally:
            await admin.close()
        refused = [code for _, code, *_ in answer.topic_errors if code not in (0, TopicAlreadyExistsError.errno)]
        if refused:
            return f"the broker has no topic {topic} and refused to create it ({for_code(refused[0]).__name__})"
        self.log.warning("created a topic the broker did not have", topic=topic, partitions=spec.partitions(settings))
        return None


def _spans(acks: Iterable[tuple[str, RecordMetadata]]) -> dict[Position, tuple[int, int]]:
    """(lowest, highest) acknowledged offset per topic and partition."""
    spans: dict[Position, tuple[int, int]] = {}
    for topic, meta in acks:
        low, high = spans.get((topic, meta.partition), (meta.offset, meta.offset))
        spans[(topic, meta.partition)] = (min(low, meta.offset), max(high, meta.offset))
    return spans


async def _published_topics(conn: asyncpg.Connection, topics: Iterable[str]) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT topic FROM outbox_offsets WHERE topic = ANY($1::text[])", list(topics))
    return [r["topic"] for r in rows]


async def _watermarks(
    conn: asyncpg.Connection, positions: Iterable[Position] | None
) -> dict[Position, tuple[int, int]]:
    """(next_offset, floor_offset) per topic and partition: of these positions, or of all."""
    rows = await conn.fetch("SELECT topic, partition, next_offset, floor_offset FROM outbox_offsets")
    wanted = None if positions is None else set(positions)
    return {
        (r["topic"], r["partition"]): (r["next_offset"], r["floor_offset"])
        for r in rows
        if wanted is None or (r["topic"], r["partition"]) in wanted
    }


async def _advance(conn: asyncpg.Connection, spans: dict[Position, tuple[int, int]]) -> None:
    if not spans:
        return
    positions = sorted(spans)  # in key order, like every other upsert of shared rows
    await conn.execute(
        "INSERT INTO outbox_offsets AS o (topic, partition, next_offset, floor_offset, since, updated_at)"
        " SELECT topic, partition, high + 1, low + 1, now(), now()"
        " FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) AS s (topic, partition, low, high)"
        " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset),"
        " floor_offset = EXCLUDED.floor_offset, updated_at = now()",
        [t for t, _ in positions],
        [p for _, p in positions],
        [spans[pos][0] for pos in positions],
        [spans[pos][1] for pos in positions],
    )


async def _end_offsets(producer: AIOKafkaProducer, metadata: ClusterMetadata, positions: list[Position]) -> dict:
    """The latest offset of each partition, asked of its leader (ListOffsets, timestamp -1)."""
    by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for topic, partition in positions:
        leader = metadata.leader_for_partition(TopicPartition(topic, partition))
        if leader is not None and leader >= 0:
            by_leader.setdefault(leader, {}).setdefault(topic, []).append((partition, -1))
    ends: dict[Position, int] = {}
    for leader, topics in by_leader.items():
        response = await producer.client.send(leader, OffsetRequest(-1, 0, list(topics.items())))
        for topic, partitions in response.topics:
            for partition, error_code, *info in partitions:
                if error_code == 0:
                    ends[(topic, partition)] = info[-1] if response.API_VERSION > 0 else max(info[0], default=0)
    return ends
