"""Preparing a usage batch: usages for valid records, rejections for the rest, offsets for every record."""

from __future__ import annotations

from billing.entrypoints.stack.loadgen import Population, bad_usage_records, record_of
from billing.platform.decoding import RawMessage
from billing.usage.batch import prepare


def _messages(records) -> list[RawMessage]:
    return [RawMessage(r.topic, i % 2, 100 + i, r.key, r.value) for i, r in enumerate(records)]


def test_batch_splits_valid_and_bad_and_tracks_next_offsets() -> None:
    population = Population.of(3)
    good = [record_of(e) for e in population.usage(5)]
    bad = [b.record for b in bad_usage_records(population.account_ids[0])]
    batch = prepare(_messages(good + bad))
    assert len(batch.usages) == 5 and len(batch.rejections) == len(bad)
    assert [m.offset for m in batch.messages] == [100, 101, 102, 103, 104]
    # Records 100..109 alternate partitions 0 and 1: the next offset is one past each partition's last.
    assert batch.next_offsets == {("billing.usage.v1", 0): 109, ("billing.usage.v1", 1): 110}


def test_usage_carries_the_event_values() -> None:
    event = next(Population.of(1).usage(1))
    (usage,) = prepare(_messages([record_of(event)])).usages
    p = event.payload
    assert (usage.event_id, usage.account_id, usage.quantity, usage.started_at) == (
        event.event_id,
        p.account_id,
        p.quantity,
        p.started_at,
    )


def test_a_rated_row_is_written_with_every_value_under_its_own_column() -> None:
    from datetime import date

    from billing.usage.batch import USAGE_COLUMNS, usage_row
    from billing.usage.rules.rating import RatedRow

    event = next(Population.of(1).usage(1))
    record = record_of(event)
    message = RawMessage(record.topic, 3, 4711, record.key, record.value)
    (usage,) = prepare([message]).usages
    rated = RatedRow(usage, 120, "plan-x", 2, date(2026, 10, 1))
    row = dict(zip(USAGE_COLUMNS, usage_row(rated, message), strict=True))
    assert row == {
        "event_id": event.event_id,
        "account_id": event.payload.account_id,
        "record_id": event.payload.record_id,
        "service": str(event.payload.service),
        "quantity": event.payload.quantity,
        "unit": str(event.payload.unit),
        "started_at": event.payload.started_at,
        "occurred_at": event.occurred_at,
        "source": event.source,
        "partition": 3,
        "offset": 4711,
        "billable_units": 120,
        "plan_id": "plan-x",
        "plan_version": 2,
        "cycle_start": date(2026, 10, 1),
    }
