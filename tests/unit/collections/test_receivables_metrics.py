"""Days sales outstanding and the receivables collector's Prometheus lines."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, generate_latest

from billing.collections.metrics_prometheus import ReceivablesCollector
from billing.collections.receivables import Receivables
from billing.collections.rules.allocation import InvoiceStanding
from billing.collections.rules.overdue import aging, days_sales_outstanding


def test_dso_is_open_over_invoiced_times_the_window() -> None:
    assert days_sales_outstanding(30_000, 90_000) == 30.0  # a third of a quarter's sales is open: 30 days
    assert days_sales_outstanding(0, 90_000) == 0.0
    assert days_sales_outstanding(5_000, 0) is None


def test_the_collector_renders_open_bands_and_dso() -> None:
    as_of = datetime(2027, 6, 30, 12, tzinfo=UTC)
    issued = datetime(2027, 1, 1, tzinfo=UTC)
    invoices = [  # grace 3: due 06-20 is 7 days overdue, 05-01 57, 01-15 163; 07-15 not yet due
        InvoiceStanding("a", 10_000, 0, 0, date(2027, 6, 20), issued),
        InvoiceStanding("b", 10_000, 0, 4_000, date(2027, 5, 1), issued),
        InvoiceStanding("c", 2_500, 0, 0, date(2027, 1, 15), issued),
        InvoiceStanding("d", 7_000, 0, 0, date(2027, 7, 15), issued),
    ]
    figures = Receivables("EUR", aging(invoices, as_of, 3), invoiced_minor=51_000)
    collector = ReceivablesCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    collector.update([figures])
    text = generate_latest(registry).decode()
    assert 'billing_receivables_open_minor{currency="EUR"} 25500.0' in text
    for band, amount in (("0-30", 10_000), ("31-60", 6_000), ("61-90", 0), ("90+", 2_500)):
        assert f'billing_receivables_overdue_minor{{band="{band}",currency="EUR"}} {float(amount)}' in text
    assert 'billing_days_sales_outstanding{currency="EUR"} 45.0' in text  # 25,500 / 51,000 * 90
