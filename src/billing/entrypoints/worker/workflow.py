"""One agent per workflow topic (accounts, invoices issued, calls, disputes, discounts): the topic's projection
(src/billing/platform/records.py), subscribed as raw bytes (src/billing/entrypoints/worker/raw.py), so that a bad
record is dead-lettered by our code with its position. The followers of the same records (retention, queue
metrics) are in src/billing/entrypoints/worker/followers.py. Payments are applied a batch at a time by their own
loop (src/billing/collections/payment_consumer.py, started in src/billing/entrypoints/worker/services.py)."""

from __future__ import annotations

import faust

from billing.accounts import ledger
from billing.accounts import projection as accounts
from billing.care import calls_projection as calls
from billing.care.config import load_care_config
from billing.care.routing_tasks import with_task_routing
from billing.collections import projection as collections
from billing.entrypoints.worker import followers
from billing.entrypoints.worker.raw import record_agent
from billing.invoicing.catalog_config import load_catalog
from billing.platform.context import WorkerContext
from billing.platform.records import Handler, Projection, RecordProcessor
from billing.platform.topics import (
    ACCOUNTS,
    CUSTOMER_CALLS,
    DISCOUNTS_GRANTED,
    DISPUTES,
    INVOICES_ISSUED,
    TopicSpec,
)

WORKFLOW_STREAMS: tuple[tuple[TopicSpec, dict[str, Handler]], ...] = (
    # Invoices and credit notes also enter the collections ledger (src/billing/collections/).
    (INVOICES_ISSUED, collections.with_ledger(ledger.INVOICE_HANDLERS)),
    (CUSTOMER_CALLS, calls.HANDLERS),
    (DISPUTES, ledger.DISPUTE_HANDLERS),
    (DISCOUNTS_GRANTED, ledger.DISCOUNT_HANDLERS),
)


def register(app: faust.App, ctx: WorkerContext) -> None:
    care = load_care_config(ctx.settings)
    # The account projection refuses accounts the catalog cannot bill, so it judges by the worker's catalog.
    account_handlers = {**accounts.handlers(load_catalog(ctx.settings)), **collections.ACCOUNT_HANDLERS}
    projections = ((ACCOUNTS, account_handlers), *WORKFLOW_STREAMS)
    for spec, handlers in projections:
        # Calls, disputes and held invoices also become agent-queue tasks in the projection's transaction.
        routed = with_task_routing(spec, handlers, care, ctx.metrics)
        record_agent(app, RecordProcessor(Projection(spec, routed), ctx), "agent")
    followers.register_retention(app, ctx)  # follows handled cases to their 30/60/90-day outcomes
