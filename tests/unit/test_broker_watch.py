"""The outbox relay's view of what the broker acknowledged: the lowest and highest offset per partition of a pass.

The highest moves the watermark (an acknowledgement below it later means the broker lost data); the lowest is the
floor the partition's end offset must reach, whatever the batching (the embedded broker reports a partition's end
as its last batch's first offset plus one)."""

from __future__ import annotations

from aiokafka.structs import RecordMetadata, TopicPartition

from billing.platform.broker_watch import _spans


def _acked(topic: str, partition: int, offset: int) -> tuple[str, RecordMetadata]:
    return topic, RecordMetadata(topic, partition, TopicPartition(topic, partition), offset, 0, 0, 0)


def test_spans_are_the_lowest_and_highest_offset_per_topic_and_partition() -> None:
    acks = [_acked("inv", 1, 7), _acked("inv", 0, 3), _acked("inv", 1, 5), _acked("dl", 1, 0), _acked("inv", 1, 9)]
    assert _spans(acks) == {("inv", 1): (5, 9), ("inv", 0): (3, 3), ("dl", 1): (0, 0)}
