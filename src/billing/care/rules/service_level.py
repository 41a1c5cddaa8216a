"""Queue service metrics computed from counters only, so windows can be kept
as small records in a stream table and combined later with ``merge``.

Formulas (as in the reference anchors, Asterisk app_queue / Amazon Connect):

* SL  = answered within T / answered
* SL2 = (answered within T + abandoned within T) / (answered + abandoned)
* ASA = sum(answer time - time queued) / answered
* abandonment rate = abandoned / entered (abandoned in queue / queued)
* AHT = total handle seconds / completed

Two SL variants exist and they differ a lot on queues with many quick
hang-ups, so every report names the variant it used (``to_dict`` does).
"Within T" means wait <= T. Rates are exact ``Fraction``s, and None when the
denominator is 0 (no calls is not a service level of 0 or 1).

Counters of one window are not required to be consistent with each other
(a call may enter in one window and be answered in the next), so nothing here
checks e.g. answered <= entered.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

DEFAULT_EDGES_S: tuple[float, ...] = (0, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, math.inf)

SERVICE_LEVEL_FORMULAS = {
    "SL": "answered within T / answered",
    "SL2": "(answered within T + abandoned within T) / (answered + abandoned)",
}


@dataclass(frozen=True)
class WaitHistogram:
    """Counts of waits per bucket; immutable, ``add`` and ``merge`` return new ones.

    Bucket i holds waits w with edges[i-1] < w <= edges[i] (bucket 0: w == 0
    for the default edges). Because buckets are closed on the right,
    ``count_within(T)`` is exact when T is a bucket edge. For any other T it
    returns the count up to the largest edge below T: a lower bound, so a
    service level computed from it is never overstated. Use
    ``is_exact_threshold`` to tell which case a report is in.
    """

    edges_s: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        edges = list(self.edges_s)
        if not edges or edges[0] < 0 or edges[-1] != math.inf or edges != sorted(set(edges)):
            raise ValueError(f"edges must ascend strictly from >= 0 and end with inf, got {edges}")
        if len(self.counts) != len(edges) or any(count < 0 for count in self.counts):
            raise ValueError(f"need {len(edges)} non-negative counts, got {self.counts}")

    @classmethod
    def empty(cls, edges_s: tuple[float, ...] = DEFAULT_EDGES_S) -> WaitHistogram:
        return cls(edges_s=tuple(edges_s), counts=(0,) * len(edges_s))

    @property
    def total(self) -> int:
        return sum(self.counts)

    def add(self, wait_s: float) -> WaitHistogram:
        # `not >= 0` also rejects NaN; a negative wait is an upstream bug that
        # a silent clamp would hide from the statistics.
        if not wait_s >= 0:
            raise ValueError(f"wait must be a non-negative number of seconds, got {wait_s!r}")
        bucket = bisect_left(self.edges_s, wait_s)
        counts = list(self.counts)
        counts[bucket] += 1
        return replace(self, counts=tuple(counts))

    def merge(self, other: WaitHistogram) -> WaitHistogram:
        if other.edges_s != self.edges_s:
            raise ValueError("cannot merge histograms with different bucket edges")
        return replace(self, counts=tuple(a + b for a, b in zip(self.counts, other.counts)))

    def count_within(self, threshold_s: float) -> int:
        """Waits <= threshold_s; exact at bucket edges, a lower bound elsewhere."""
        return sum(self.counts[: bisect_right(self.edges_s, threshold_s)])

    def is_exact_threshold(self, threshold_s: float) -> bool:
        return threshold_s in self.edges_s

    def to_dict(self) -> dict[str, Any]:
        # JSON has no infinity, so the open last edge is written as "inf".
        edges = ["inf" if edge == math.inf else edge for edge in self.edges_s]
        return {"edges_s": edges, "counts": list(self.counts)}


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return None if denominator == 0 else Fraction(numerator, denominator)


def fixed_4(value: Fraction | None) -> str | None:
    """Non-negative Fraction as a string with 4 decimals, half up, exactly
    (no float or Decimal context rounding on the way)."""
    if value is None:
        return None
    scaled = value * 10_000
    whole, remainder = divmod(scaled.numerator, scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        whole += 1
    return f"{whole // 10_000}.{whole % 10_000:04d}"


def _whole_seconds(value: int, what: str) -> int:
    # Integer seconds keep totals exact and merges associative.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer number of seconds, got {value!r}")
    return value


@dataclass(frozen=True)
class QueueStats:
    """Cumulative counters of one queue over one window; immutable."""

    entered: int = 0
    answered: int = 0
    abandoned: int = 0
    completed: int = 0
    total_answer_wait_s: int = 0
    total_handle_s: int = 0
    answer_wait: WaitHistogram = field(default_factory=WaitHistogram.empty)
    abandon_wait: WaitHistogram = field(default_factory=WaitHistogram.empty)

    @classmethod
    def empty(cls, edges_s: tuple[float, ...] = DEFAULT_EDGES_S) -> QueueStats:
        return cls(answer_wait=WaitHistogram.empty(edges_s), abandon_wait=WaitHistogram.empty(edges_s))

    def record_entered(self) -> QueueStats:
        return replace(self, entered=self.entered + 1)

    def record_answered(self, wait_s: int) -> QueueStats:
        wait = _whole_seconds(wait_s, "answer wait")
        return replace(
            self,
            answered=self.answered + 1,
            total_answer_wait_s=self.total_answer_wait_s + wait,
            answer_wait=self.answer_wait.add(wait),
        )

    def record_abandoned(self, wait_s: int) -> QueueStats:
        wait = _whole_seconds(wait_s, "abandon wait")
        return replace(self, abandoned=self.abandoned + 1, abandon_wait=self.abandon_wait.add(wait))

    def record_completed(self, handle_s: int) -> QueueStats:
        handle = _whole_seconds(handle_s, "handle time")
        return replace(self, completed=self.completed + 1, total_handle_s=self.total_handle_s + handle)

    def merge(self, other: QueueStats) -> QueueStats:
        return QueueStats(
            entered=self.entered + other.entered,
            answered=self.answered + other.answered,
            abandoned=self.abandoned + other.abandoned,
            completed=self.completed + other.completed,
            total_answer_wait_s=self.total_answer_wait_s + other.total_answer_wait_s,
            total_handle_s=self.total_handle_s + other.total_handle_s,
            answer_wait=self.answer_wait.merge(other.answer_wait),
            abandon_wait=self.abandon_wait.merge(other.abandon_wait),
        )

    def service_level(self, threshold_s: float) -> Fraction | None:
        """SL: answered within T / answered."""
        return _ratio(self.answer_wait.count_within(threshold_s), self.answered)

    def service_level_with_abandons(self, threshold_s: float) -> Fraction | None:
        """SL2: (answered within T + abandoned within T) / (answered + abandoned)."""
        within = self.answer_wait.count_within(threshold_s) + self.abandon_wait.count_within(threshold_s)
        return _ratio(within, self.answered + self.abandoned)

    def average_speed_of_answer(self) -> Fraction | None:
        """ASA in seconds."""
        return _ratio(self.total_answer_wait_s, self.answered)

    def abandonment_rate(self) -> Fraction | None:
        return _ratio(self.abandoned, self.entered)

    def average_handle_time(self) -> Fraction | None:
        """AHT in seconds."""
        return _ratio(self.total_handle_s, self.completed)

    def _service_level_report(self, variant: str, value: Fraction | None, threshold_s: float) -> dict[str, Any]:
        return {
            "variant": variant,
            "formula": SERVICE_LEVEL_FORMULAS[variant],
            "threshold_s": threshold_s,
            "threshold_exact": self.answer_wait.is_exact_threshold(threshold_s),
            "value": fixed_4(value),
        }

    def to_dict(self, threshold_s: float) -> dict[str, Any]:
        """JSON-ready report; rates as strings with 4 decimals, None if undefined."""
        return {
            "entered": self.entered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "completed": self.completed,
            "total_answer_wait_s": self.total_answer_wait_s,
            "total_handle_s": self.total_handle_s,
            "service_level": self._service_level_report("SL", self.service_level(threshold_s), threshold_s),
            "service_level_with_abandons": self._service_level_report(
                "SL2", self.service_level_with_abandons(threshold_s), threshold_s
            ),
            "average_speed_of_answer_s": fixed_4(self.average_speed_of_answer()),
            "abandonment_rate": fixed_4(self.abandonment_rate()),
            "average_handle_time_s": fixed_4(self.average_handle_time()),
            "answer_wait_histogram": self.answer_wait.to_dict(),
            "abandon_wait_histogram": self.abandon_wait.to_dict(),
        }
