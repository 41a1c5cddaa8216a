"""Queue service metrics in Prometheus form: a collector that renders the last merged figures at scrape time.

The figures are group-wide (merged from every worker's cells in PostgreSQL), so every worker exports the same
values: aggregate across workers with max(), not sum(). Undefined rates (no answered task yet) are left out
rather than reported as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from billing.care.rules.metrics_report import QueueFigures

PREFIX = "billing_queue"


class QueueMetricsCollector(Collector):
    def __init__(self) -> None:
        self._figures: list[QueueFigures] = []
        self._threshold_s = 20

    def update(self, figures: list[QueueFigures], threshold_s: int) -> None:
        self._figures, self._threshold_s = list(figures), threshold_s

    def collect(self) -> Iterator[Metric]:
        figures, threshold = self._figures, self._threshold_s
        yield _gauge("waiting", "Tasks waiting in the queue now.", [(f.queue, f.live.waiting) for f in figures])
        yield _gauge(
            "oldest_wait_seconds",
            "Wait of the oldest waiting task now.",
            [(f.queue, f.live.oldest_wait_s) for f in figures],
        )
        level = GaugeMetricFamily(
            f"{PREFIX}_service_level",
            "Share answered within threshold_s: SL = answered within / answered; "
            "SL2 = (answered within + abandoned within) / (answered + abandoned).",
            labels=["queue", "variant", "threshold_s"],
        )
        for f in figures:
            for variant, value in (
                ("SL", f.total.service_level(threshold)),
                ("SL2", f.total.service_level_with_abandons(threshold)),
            ):
                if value is not None:
                    level.add_metric([f.queue, variant, str(threshold)], float(value))
        yield level
        yield _gauge(
            "average_speed_of_answer_seconds",
            "Mean wait of answered tasks (ASA).",
            [(f.queue, f.total.average_speed_of_answer()) for f in figures],
        )
        yield _gauge(
            "abandonment_rate",
            "Tasks abandoned by the caller / tasks entered.",
            [(f.queue, f.total.abandonment_rate()) for f in figures],
        )
        yield _gauge(
            "average_handle_time_seconds",
            "Mean accepted-to-completed time of completed tasks (AHT).",
            [(f.queue, f.total.average_handle_time()) for f in figures],
        )
        yield _task_counts(figures)
        yield _answer_wait_histogram(figures)


def _gauge(name: str, doc: str, samples: list[tuple[str, float | Fraction | None]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["queue"])
    for queue, value in samples:
        if value is not None:
            family.add_metric([queue], float(value))
    return family


def _task_counts(figures: list[QueueFigures]) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}_tasks", "Task events counted, by what happened.", labels=["queue", "event"])
    for f in figures:
        t = f.total
        for event, count in (
            ("entered", t.entered),
            ("answered", t.answered),
            ("abandoned", t.abandoned),
            ("completed", t.completed),
        ):
            family.add_metric([f.queue, event], count)
    return family


def _answer_wait_histogram(figures: list[QueueFigures]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        f"{PREFIX}_answer_wait_seconds", "Wait from routed to accepted, answered tasks.", labels=["queue"]
    )
    for f in figures:
        histogram = f.total.answer_wait
        cumulative, buckets = 0, []
        for edge, count in zip(histogram.edges_s, histogram.counts):
            cumulative += count
            buckets.append(("+Inf" if edge == math.inf else _edge_label(edge), cumulative))
        family.add_metric([f.queue], buckets, sum_value=f.total.total_answer_wait_s)
    return family


def _edge_label(edge: float) -> str:
    # Prometheus writes bucket bounds as floats ("20.0"); keep that form so queries match other histograms.
    return str(float(edge))
