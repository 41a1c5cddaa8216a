"""Pure batch preparation for the usage hot path: decode a batch into usages and rejections.

The usage topic carries telecom volume, so it is handled a batch at a time (one transaction, one COPY)
instead of one framework event at a time; see docs/usage.md for the measured gap between the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from billing.platform.decoding import RawMessage, Record, Rejection, decode
from billing.platform.topics import USAGE
from billing.usage.fast_decode import fast_usage, usage_from_event
from billing.usage.rules.rating import RatedRow
from billing.usage.rules.usage_record import Usage

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
    "billable_units",
    "plan_id",
    "plan_version",
    "cycle_start",
)


@dataclass
class PreparedBatch:
    usages: list[Usage] = field(default_factory=list)
    messages: list[Record] = field(default_factory=list)  # parallel to usages
    rejections: list[tuple[RawMessage, Rejection]] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    first_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.usages) + len(self.rejections)

    def offset_ranges(self) -> dict[str, list[int]]:
        """{"topic:partition": [first offset, next offset]} of the messages in this batch."""
        return {f"{t}:{p}": [self.first_offsets[(t, p)], end] for (t, p), end in self.next_offsets.items()}


def prepare(messages: Iterable[Record]) -> PreparedBatch:
    return prepare_into(PreparedBatch(), messages)


def prepare_into(batch: PreparedBatch, messages: Iterable[Record]) -> PreparedBatch:
    """Decode ``messages`` and add them to ``batch`` (a batch may be prepared a slice at a time)."""
    for message in messages:
        usage = _decode(message)
        if isinstance(usage, Rejection):
            batch.rejections.append((RawMessage.of(message), usage))
        else:
            batch.usages.append(usage)
            batch.messages.append(message)
        position = (message.topic, message.partition)
        batch.next_offsets[position] = max(batch.next_offsets.get(position, 0), message.offset + 1)
        batch.first_offsets[position] = min(batch.first_offsets.get(position, message.offset), message.offset)
    return batch


def _decode(message: Record) -> Usage | Rejection:
    usage = fast_usage(message.value) if message.value else None
    if usage is not None and message.key is not None and message.key == usage.account_id.encode():
        return usage
    decoded = decode(message, USAGE)  # the authority, for the verdict and a precise reason
    return decoded if isinstance(decoded, Rejection) else usage_from_event(decoded)


def usage_row(row: RatedRow, message: Record) -> tuple:
    """The usage_events row, in USAGE_COLUMNS order (Usage's own fields lead it, in the same order)."""
    return (
        *row.usage,
        message.partition,
        message.offset,
        row.billable_units,
        row.plan_id,
        row.plan_version,
        row.cycle_start,
    )
