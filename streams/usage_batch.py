"""Pure batch preparation for the usage hot path: decode a batch, split it into rows and rejections.

The usage topic carries telecom volume, so it is handled a batch at a time (one transaction, one COPY)
instead of one framework event at a time; see broker-notes for the measured gap between the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streams.decoding import RawMessage, Rejection, decode
from streams.topics import USAGE

USAGE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "account_id",
    "record_id",
    "service",
    "quantity",
    "unit",
    "started_at",
    "occurred_at",
    "source",
    "partition",
    "offset",
)


@dataclass
class PreparedBatch:
    rows: list[tuple] = field(default_factory=list)
    rejections: list[tuple[RawMessage, Rejection]] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.rejections)


def prepare(messages: Iterable[RawMessage]) -> PreparedBatch:
    batch = PreparedBatch()
    for message in messages:
        decoded = decode(message, USAGE)
        if isinstance(decoded, Rejection):
            batch.rejections.append((message, decoded))
        else:
            batch.rows.append(usage_row(decoded, message))
        position = (message.topic, message.partition)
        batch.next_offsets[position] = max(batch.next_offsets.get(position, 0), message.offset + 1)
    return batch


def usage_row(event, message: RawMessage) -> tuple:
    p = event.payload
    return (
        event.event_id,
        p.account_id,
        p.record_id,
        str(p.service),
        p.quantity,
        str(p.unit),
        p.started_at,
        event.occurred_at,
        event.source,
        message.partition,
        message.offset,
    )


def distinct_ids(rows: Sequence[tuple]) -> int:
    return len({row[0] for row in rows})
