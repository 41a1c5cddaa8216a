"""Receivables in Prometheus form: a collector rendering the last figures read (src/billing/collections/
receivables.py) at scrape time. Amounts are in minor units per currency; the figures are read from PostgreSQL,
so every worker exports the same values (aggregate with max(), not sum())."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from billing.collections.receivables import Receivables


class ReceivablesCollector(Collector):
    def __init__(self) -> None:
        self._figures: list[Receivables] = []

    def update(self, figures: list[Receivables]) -> None:
        self._figures = list(figures)

    def collect(self) -> Iterator[Metric]:
        open_ = GaugeMetricFamily(
            "billing_receivables_open_minor",
            "Open receivables: what invoices still ask, minor units.",
            labels=["currency"],
        )
        overdue = GaugeMetricFamily(
            "billing_receivables_overdue_minor",
            "Open amount past due date + grace, by days overdue (0-30, 31-60, 61-90, 90+), minor units.",
            labels=["currency", "band"],
        )
        dso = GaugeMetricFamily(
            "billing_days_sales_outstanding",
            "Open receivables / invoiced over the last 90 days (event time) x 90.",
            labels=["currency"],
        )
        for f in self._figures:
            open_.add_metric([f.currency], f.aging.open_minor)
            for band, amount in f.aging.overdue_by_band.items():
                overdue.add_metric([f.currency, band], amount)
            if f.dso_days is not None:
                dso.add_metric([f.currency], f.dso_days)
        yield from (open_, overdue, dso)
