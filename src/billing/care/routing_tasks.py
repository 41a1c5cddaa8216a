"""Routing: customer calls, disputes and held invoices become tasks; abandoned calls and closed accounts end them.

These run after the projection's own handler, inside the same transaction and under the same idempotency key
(src/billing/platform/records.py), so the projection row, the task row and the task event commit together; a replayed event
is a duplicate before it gets here, and `source_event_id` UNIQUE stops a second task even if it did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import asyncpg

from billing.care.config import CareConfig, plan_route
from billing.care.facts import account_facts
from billing.care.lifecycle import NewTask, cancel_for_call, cancel_open_for_account, insert_task, make_task_id
from billing.care.rules.priority import priority
from billing.care.rules.routing_rules import Route
from billing.contracts import Event
from billing.contracts.calls import CallAbandoned, CallStarted
from billing.contracts.disputes import DisputeOpened
from billing.contracts.envelope import payload_as
from billing.contracts.invoices import InvoiceHeld
from billing.platform.metrics import Metrics
from billing.platform.records import Handler
from billing.platform.topics import ACCOUNTS, CUSTOMER_CALLS, DISPUTES, INVOICES_ISSUED, TopicSpec
from billing.retention.experiment import assign_at_routing

# A held invoice is a bill the safety bound stopped: only a supervisor may release it.
HELD_INVOICE_ROUTE = Route(queue="supervisors", base_priority=20, rule_name="held_invoice")


async def route_call(conn: asyncpg.Connection, event: Event, config: CareConfig) -> None:
    p = payload_as(event, CallStarted)
    known = await account_facts(conn, p.account_id, event.occurred_at, call_id=p.call_id, invoice_id=p.invoice_id)
    plan = plan_route(config, known.facts, str(p.reason))
    task_id = make_task_id("call", p.call_id)
    arm, period = await _arm_at_routing(conn, config, p.account_id, task_id, event)
    await insert_task(
        conn,
        NewTask(
            task_id=task_id,
            kind="call",
            source_event_id=event.event_id,
            account_id=p.account_id,
            reason=str(p.reason),
            rule=plan.rule,
            queue=plan.queue,
            tier=plan.tier,
            static_priority=plan.priority,
            priority=plan.priority,
            routed_at=event.occurred_at,
            call_id=p.call_id,
            invoice_id=p.invoice_id,
            currency=known.currency,
            arm=arm,
            period=period,
        ),
    )


async def route_dispute(conn: asyncpg.Connection, event: Event, config: CareConfig) -> None:
    p = payload_as(event, DisputeOpened)
    known = await account_facts(conn, p.account_id, event.occurred_at, invoice_id=p.invoice_id, dispute_id=p.dispute_id)
    plan = plan_route(config, known.facts, "dispute")
    task_id = make_task_id("dispute", p.dispute_id)
    arm, period = await _arm_at_routing(conn, config, p.account_id, task_id, event)
    await insert_task(
        conn,
        NewTask(
            task_id=task_id,
            kind="dispute",
            source_event_id=event.event_id,
            account_id=p.account_id,
            reason=str(p.reason),
            rule=plan.rule,
            queue=plan.queue,
            tier=plan.tier,
            static_priority=plan.priority,
            priority=plan.priority,
            routed_at=event.occurred_at,
            dispute_id=p.dispute_id,
            invoice_id=p.invoice_id,
            disputed_amount_minor=p.amount.amount_minor,
            currency=p.amount.currency,
            arm=arm,
            period=period,
        ),
    )


async def _arm_at_routing(
    conn: asyncpg.Connection, config: CareConfig, account_id: str, task_id: str, event: Event
) -> tuple[str | None, str | None]:
    """A customer contact's retention arm, fixed for the account in the current period (None without one)."""
    if config.experiment is None:
        return None, None
    arm = await assign_at_routing(conn, config.experiment, account_id, task_id, event.occurred_at)
    return arm, config.experiment.period


async def route_held_invoice(conn: asyncpg.Connection, event: Event, config: CareConfig) -> None:
    p = payload_as(event, InvoiceHeld)
    known = await account_facts(conn, p.account_id, event.occurred_at, invoice_id=p.invoice_id)
    points = priority(HELD_INVOICE_ROUTE, known.facts, 0, config.weights)
    queue = HELD_INVOICE_ROUTE.queue
    await insert_task(
        conn,
        NewTask(
            task_id=make_task_id("held_invoice", p.invoice_id),
            kind="held_invoice",
            source_event_id=event.event_id,
            account_id=p.account_id,
            reason=p.reason[:200],
            rule=HELD_INVOICE_ROUTE.rule_name,
            queue=queue,
            tier=config.tier_of([queue]),
            static_priority=points,
            priority=points,
            routed_at=event.occurred_at,
            invoice_id=p.invoice_id,
            currency=p.currency,
        ),
    )


async def cancel_abandoned_call(conn: asyncpg.Connection, event: Event, metrics: Metrics) -> None:
    task = await cancel_for_call(conn, payload_as(event, CallAbandoned).call_id, event.occurred_at)
    if task is not None:
        metrics.tasks_cancelled.labels(task.queue, "caller_abandoned").inc()


async def cancel_for_closed_account(conn: asyncpg.Connection, event: Event, metrics: Metrics) -> None:
    for task in await cancel_open_for_account(conn, event.payload.account_id, event.occurred_at):
        metrics.tasks_cancelled.labels(task.queue, "account_closed").inc()


Extra = Callable[[asyncpg.Connection, Event], Awaitable[None]]


def _extras(care: CareConfig, metrics: Metrics) -> Mapping[tuple[str, str], Extra]:
    return {
        (CUSTOMER_CALLS.name, "call.started.v1"): lambda conn, e: route_call(conn, e, care),
        (CUSTOMER_CALLS.name, "call.abandoned.v1"): lambda conn, e: cancel_abandoned_call(conn, e, metrics),
        (DISPUTES.name, "dispute.opened.v1"): lambda conn, e: route_dispute(conn, e, care),
        (INVOICES_ISSUED.name, "invoice.held.v1"): lambda conn, e: route_held_invoice(conn, e, care),
        (ACCOUNTS.name, "account.closed.v1"): lambda conn, e: cancel_for_closed_account(conn, e, metrics),
    }


def with_task_routing(
    spec: TopicSpec, handlers: Mapping[str, Handler], care: CareConfig, metrics: Metrics
) -> dict[str, Handler]:
    """The topic's projection handlers, each followed by its queue effect (if any) in the same transaction."""
    extras = _extras(care, metrics)
    return {
        event_type: _then(handler, extras[(spec.name, event_type)]) if (spec.name, event_type) in extras else handler
        for event_type, handler in handlers.items()
    }


def _then(first: Handler, second: Extra) -> Handler:
    async def both(conn: asyncpg.Connection, event: Event) -> None:
        await first(conn, event)
        await second(conn, event)

    return both
