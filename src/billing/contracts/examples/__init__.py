"""One realistic, valid instance of every event type (README, demo, tests), by subject:
accounts_and_invoices.py (the account's life and its bills) and care.py (calls, disputes, discounts, tasks).
"""

from __future__ import annotations

from billing.contracts import envelope as ev
from billing.contracts.examples import accounts_and_invoices, care, payments

# The order a customer journey would produce them in (docs list the events in this order).
JOURNEY = (
    "account.opened.v1",
    "usage.recorded.v1",
    "invoice.issued.v1",
    "invoice.held.v1",
    "call.started.v1",
    "call.answered.v1",
    "call.abandoned.v1",
    "dispute.opened.v1",
    "dispute.routed.v1",
    "dispute.in_review.v1",
    "credit_note.issued.v1",
    "dispute.resolved.v1",
    "discount.granted.v1",
    "call.ended.v1",
    "account.plan_changed.v1",
    "account.closed.v1",
    "task.routed.v1",
    "task.requeued.v1",
    "task.accepted.v1",
    "task.completed.v1",
    "task.cancelled.v1",
    "payment.failed.v1",
    "account.suspended.v1",
    "payment.received.v1",
    "account.restored.v1",
    "payment.refunded.v1",
    "payment.charged_back.v1",
)


def example_events() -> dict[str, ev.Event]:
    """Keyed by type name, in the order a customer journey would produce them."""
    builders = {
        **accounts_and_invoices.builders(),
        **care.call_builders(),
        **care.dispute_step_builders(),
        **care.task_builders(),
        **payments.builders(),
    }
    if set(builders) != set(JOURNEY):  # a new example must take its place in the journey
        raise AssertionError(f"examples out of the journey: {sorted(set(builders) ^ set(JOURNEY))}")
    return {name: builders[name]() for name in JOURNEY}
