"""The outbox relay's per-topic backoff: a failing topic is skipped for a doubling wait, other topics never are."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.platform.outbox_backoff import TopicBackoff


def test_a_failed_topic_is_blocked_for_a_doubling_wait_and_others_are_not() -> None:
    backoff = TopicBackoff(base_s=1.0, cap_s=60.0)
    assert backoff.failed("billing.queue.new.v1", now=100.0) == 1
    # 1 s after the first failure, 2 s after the second (from the second's time).
    assert backoff.blocked(100.5) == ["billing.queue.new.v1"]
    assert backoff.blocked(101.0) == []
    assert backoff.failed("billing.queue.new.v1", now=101.0) == 2
    assert backoff.blocked(102.9) == ["billing.queue.new.v1"] and backoff.blocked(103.0) == []
    assert "billing.task-events.v1" not in backoff.blocked(101.5)


def test_success_clears_the_topic() -> None:
    backoff = TopicBackoff()
    backoff.failed("t", now=0.0)
    backoff.failed("t", now=0.0)
    assert backoff.succeeded("t") == 2
    assert backoff.blocked(0.0) == [] and backoff.failing() == {}
    assert backoff.succeeded("t") == 0


def test_reported_at_every_fifth_failure_in_a_row() -> None:
    backoff = TopicBackoff(report_every=5)
    assert [n for n in range(1, 16) if backoff.should_report(n)] == [5, 10, 15]


@given(st.integers(min_value=1, max_value=200))
def test_the_wait_never_exceeds_the_cap(failures: int) -> None:
    backoff = TopicBackoff(base_s=1.0, cap_s=60.0)
    for _ in range(failures):
        backoff.failed("t", now=0.0)
    # Blocked just before the wait ends, free at the cap at the latest.
    assert backoff.blocked(60.0) == []
    assert backoff.blocked(min(60.0, 2.0 ** (failures - 1)) - 0.001) == ["t"]
