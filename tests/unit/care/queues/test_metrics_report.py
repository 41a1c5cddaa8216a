"""Queue metrics read side: partitions' cells merged per queue and window, the JSON report and the Prometheus
rendering, on a small case worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from billing.care.metrics_prometheus import QueueMetricsCollector
from billing.care.rules.metrics_report import Live, Snapshot, merge_snapshots, queue_json, report_json
from billing.care.rules.service_level import QueueStats

W0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
W1 = W0 + timedelta(minutes=5)


def _stats(
    entered: int = 0, answers: tuple[int, ...] = (), abandons: tuple[int, ...] = (), handles: tuple[int, ...] = ()
) -> QueueStats:
    stats = QueueStats.empty()
    for _ in range(entered):
        stats = stats.record_entered()
    for wait in answers:
        stats = stats.record_answered(wait)
    for wait in abandons:
        stats = stats.record_abandoned(wait)
    for handle in handles:
        stats = stats.record_completed(handle)
    return stats


# Partition 0 saw tasks entering and answered after 5 and 30 s; partition 1 one answered after 20 s, one
# abandoned after 8 s, one completed after 100 s in the next window.
SNAPSHOTS = [
    Snapshot("billing", None, _stats(entered=3, answers=(5, 30))),
    Snapshot("billing", None, _stats(entered=1, answers=(20,), abandons=(8,), handles=(100,))),
    Snapshot("billing", W1, _stats(handles=(100,))),
    Snapshot("billing", W0, _stats(entered=3, answers=(5, 30))),
    Snapshot("billing", W0, _stats(entered=1, answers=(20,), abandons=(8,))),
]


def test_cells_of_different_partitions_add_up_per_queue_and_window() -> None:
    [billing, disputes] = merge_snapshots(SNAPSHOTS, {"disputes": Live(waiting=2, oldest_wait_s=41.5)})
    assert (billing.total.entered, billing.total.answered, billing.total.abandoned, billing.total.completed) == (
        4,
        3,
        1,
        1,
    )
    assert [start for start, _ in billing.windows] == [W0, W1]  # in time order, whatever the row order
    assert billing.windows[0][1].entered == 4 and billing.windows[1][1].completed == 1
    # A queue known only from the live table is listed, with empty statistics.
    assert disputes.queue == "disputes" and disputes.total == QueueStats.empty() and disputes.live.waiting == 2


def test_json_report_of_a_queue() -> None:
    [billing] = merge_snapshots(SNAPSHOTS, {"billing": Live(waiting=1, oldest_wait_s=12.3456, reserved=1)})
    q = queue_json(billing, threshold_s=20, window_s=300)
    assert (q["waiting_now"], q["oldest_wait_s"], q["reserved_now"]) == (1, 12.346, 1)
    assert q["service_level"]["value"] == "0.6667"  # 5 and 20 of 5, 30, 20 are <= 20: 2/3
    assert q["service_level_with_abandons"]["value"] == "0.7500"  # (2 + the 8 s abandon) / (3 + 1)
    assert q["average_speed_of_answer_s"] == "18.3333"  # (5 + 30 + 20) / 3
    assert q["abandonment_rate"] == "0.2500"  # 1 / 4
    assert q["average_handle_time_s"] == "100.0000"
    assert q["wait_histogram"]["counts"][:5] == [0, 1, 0, 1, 1]  # 5 -> (0,5], 20 -> (10,20], 30 -> (20,30]
    assert [(w["window_start"], w["window_end"], w["entered"]) for w in q["windows"]] == [
        ("2026-11-03T09:00:00Z", "2026-11-03T09:05:00Z", 4),
        ("2026-11-03T09:05:00Z", "2026-11-03T09:10:00Z", 0),
    ]
    report = report_json([billing], threshold_s=20, window_s=300, retention_s=3600, now=W1)
    assert report["generated_at"] == "2026-11-03T09:05:00Z" and list(report["queues"]) == ["billing"]


def _text(figures, threshold_s: int = 20) -> str:
    registry = CollectorRegistry()
    collector = QueueMetricsCollector()
    registry.register(collector)
    collector.update(figures, threshold_s)
    return generate_latest(registry).decode()


def test_prometheus_rendering_of_the_same_figures() -> None:
    text = _text(merge_snapshots(SNAPSHOTS, {"billing": Live(waiting=1, oldest_wait_s=12.5)}))
    lines = set(text.splitlines())
    assert 'billing_queue_waiting{queue="billing"} 1.0' in lines
    assert 'billing_queue_oldest_wait_seconds{queue="billing"} 12.5' in lines
    assert f'billing_queue_service_level{{queue="billing",threshold_s="20",variant="SL"}} {2 / 3}' in lines
    assert 'billing_queue_service_level{queue="billing",threshold_s="20",variant="SL2"} 0.75' in lines
    assert f'billing_queue_average_speed_of_answer_seconds{{queue="billing"}} {55 / 3}' in lines
    assert 'billing_queue_abandonment_rate{queue="billing"} 0.25' in lines
    assert 'billing_queue_tasks_total{event="abandoned",queue="billing"} 1.0' in lines
    # Cumulative buckets: 1 wait <= 5, still 1 <= 10, 2 <= 20, 3 <= 30 and beyond; sum 55.
    assert 'billing_queue_answer_wait_seconds_bucket{le="5.0",queue="billing"} 1.0' in lines
    assert 'billing_queue_answer_wait_seconds_bucket{le="10.0",queue="billing"} 1.0' in lines
    assert 'billing_queue_answer_wait_seconds_bucket{le="20.0",queue="billing"} 2.0' in lines
    assert 'billing_queue_answer_wait_seconds_bucket{le="+Inf",queue="billing"} 3.0' in lines
    assert 'billing_queue_answer_wait_seconds_count{queue="billing"} 3.0' in lines
    assert 'billing_queue_answer_wait_seconds_sum{queue="billing"} 55.0' in lines


def test_undefined_rates_are_left_out_not_reported_as_zero() -> None:
    text = _text(merge_snapshots([Snapshot("retention", None, _stats(entered=2))], {}))
    assert 'billing_queue_tasks_total{event="entered",queue="retention"} 2.0' in text
    assert "billing_queue_service_level{" not in text
    assert "billing_queue_average_speed_of_answer_seconds{" not in text
    assert "billing_queue_oldest_wait_seconds{" not in text
    assert 'billing_queue_abandonment_rate{queue="retention"} 0.0' in text  # 0 of 2 entered is a real 0
