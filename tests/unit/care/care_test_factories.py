"""Shared builders for the care unit tests (plain functions, no fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.care.rules.routing_rules import AccountFacts

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``; keeps the time arithmetic in the tests readable."""
    return T0 + timedelta(seconds=seconds)


def facts(
    *,
    average_invoice_minor: int | None = 4_000,
    tenure_days: int = 100,
    open_disputes: int = 0,
    disputed_amount_minor: int = 0,
    repeat_calls: int = 0,
    cancellation_intent: bool = False,
    account_id: str = "acc-1",
) -> AccountFacts:
    """An unremarkable account unless a test says otherwise."""
    return AccountFacts(
        account_id=account_id,
        average_invoice_minor=average_invoice_minor,
        tenure_days=tenure_days,
        open_disputes=open_disputes,
        disputed_amount_minor=disputed_amount_minor,
        repeat_calls_same_invoice_30d=repeat_calls,
        cancellation_intent=cancellation_intent,
    )
