"""SL, SL2, ASA, abandonment and AHT by hand; histogram edges; windows merged."""

import math
from fractions import Fraction

import pytest

from billing.care.rules.service_level import QueueStats, WaitHistogram, fixed_4

ANSWER_WAITS = (0, 4, 12, 20, 25, 70)
ABANDON_WAITS = (3, 8, 15, 40)
HANDLE_TIMES = (300, 240, 180)
ENTERED = 11  # 6 answered + 4 abandoned + 1 still waiting


def record(stats: QueueStats, entered: int, answered=(), abandoned=(), handled=()) -> QueueStats:
    for _ in range(entered):
        stats = stats.record_entered()
    for wait in answered:
        stats = stats.record_answered(wait)
    for wait in abandoned:
        stats = stats.record_abandoned(wait)
    for seconds in handled:
        stats = stats.record_completed(seconds)
    return stats


STATS = record(QueueStats(), ENTERED, ANSWER_WAITS, ABANDON_WAITS, HANDLE_TIMES)


def test_metrics_by_hand() -> None:
    # Answered within 20 s: 0, 4, 12, 20 (20 counts, "within" is <=) -> 4 of 6.
    assert STATS.service_level(20) == Fraction(4, 6)
    # Abandoned within 20 s: 3, 8, 15 -> 3. SL2 = (4 + 3) / (6 + 4) = 7/10.
    assert STATS.service_level_with_abandons(20) == Fraction(7, 10)
    # ASA = (0 + 4 + 12 + 20 + 25 + 70) / 6 = 131 / 6 = 21.8333...
    assert STATS.average_speed_of_answer() == Fraction(131, 6)
    # Abandonment = 4 / 11 = 0.3636...
    assert STATS.abandonment_rate() == Fraction(4, 11)
    # AHT = (300 + 240 + 180) / 3 = 240
    assert STATS.average_handle_time() == 240


def test_report_names_the_variant_and_rounds_to_four_places() -> None:
    report = STATS.to_dict(threshold_s=20)
    assert report["service_level"] == {
        "variant": "SL",
        "formula": "answered within T / answered",
        "threshold_s": 20,
        "threshold_exact": True,
        "value": "0.6667",
    }
    assert report["service_level_with_abandons"]["variant"] == "SL2"
    assert report["service_level_with_abandons"]["value"] == "0.7000"
    assert report["average_speed_of_answer_s"] == "21.8333"
    assert report["abandonment_rate"] == "0.3636"
    assert report["average_handle_time_s"] == "240.0000"
    assert report["answer_wait_histogram"]["edges_s"][-1] == "inf"
    assert sum(report["answer_wait_histogram"]["counts"]) == 6


def test_threshold_between_edges_is_a_lower_bound() -> None:
    # 25 s is not an edge: the (20, 30] bucket holds the 25 s wait, so it is left out.
    assert STATS.answer_wait.count_within(25) == 4
    assert STATS.answer_wait.count_within(30) == 5
    assert STATS.to_dict(threshold_s=25)["service_level"]["threshold_exact"] is False


def test_histogram_bucket_edges_are_closed_on_the_right() -> None:
    histogram = WaitHistogram.empty()
    for wait in (0, 0.1, 5, 5.0001, 600, 601, math.inf):
        histogram = histogram.add(wait)
    # buckets: [0], (0,5], (5,10], ..., (300,600], (600,inf]
    assert histogram.counts[:3] == (1, 2, 1)
    assert histogram.counts[-2:] == (1, 2)
    assert histogram.count_within(0) == 1
    assert histogram.count_within(-1) == 0
    assert histogram.count_within(math.inf) == histogram.total == 7


def test_empty_denominators_give_none() -> None:
    report = QueueStats().to_dict(threshold_s=20)
    assert report["service_level"]["value"] is None
    assert report["service_level_with_abandons"]["value"] is None
    assert (
        report["average_speed_of_answer_s"],
        report["abandonment_rate"],
        report["average_handle_time_s"],
    ) == (None, None, None)


def test_two_windows_merge_into_the_whole() -> None:
    morning = record(QueueStats(), 5, ANSWER_WAITS[:3], ABANDON_WAITS[:1], HANDLE_TIMES[:1])
    afternoon = record(QueueStats(), 6, ANSWER_WAITS[3:], ABANDON_WAITS[1:], HANDLE_TIMES[1:])
    assert morning.merge(afternoon) == STATS


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1, 20_000), "0.0001"),
        (Fraction(1, 20_001), "0.0000"),
        (Fraction(2, 3), "0.6667"),
        (Fraction(1), "1.0000"),
        (Fraction(0), "0.0000"),
        (Fraction(123_456_789, 10), "12345678.9000"),
    ],
)
def test_fixed_4_rounds_half_up_exactly(value: Fraction, text: str) -> None:
    assert fixed_4(value) == text


@pytest.mark.parametrize("bad", [-1, 1.5, True, None])
def test_recorded_seconds_must_be_whole_and_non_negative(bad) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        QueueStats().record_answered(bad)


def test_histogram_rejects_bad_waits_and_mismatched_merges() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        WaitHistogram.empty().add(float("nan"))
    with pytest.raises(ValueError, match="different bucket edges"):
        WaitHistogram.empty().merge(WaitHistogram.empty((0, 10, math.inf)))
    with pytest.raises(ValueError, match="end with inf"):
        WaitHistogram.empty((0, 10))
