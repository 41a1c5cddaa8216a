"""Every Kafka topic of the system, in one place: name, key, the event types it may carry, partitions.

Keys are the account id wherever per-account order matters (all event topics): Kafka keeps one account's
events in one partition, so one worker sees them in order. Values are JSON envelopes (see `src/billing/contracts/`); the
workers read them as raw bytes and validate them themselves, so that a bad message is dead-lettered with its
original bytes instead of being skipped by the framework.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from billing.platform.settings import Settings


class PartitionClass(Enum):
    USAGE = "usage"
    WORKFLOW = "workflow"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    event_types: frozenset[str]
    partition_class: PartitionClass
    description: str

    def partitions(self, settings: Settings) -> int:
        if self.partition_class is PartitionClass.USAGE:
            return settings.usage_partitions
        return settings.workflow_partitions

    def accepts(self, event_type: str) -> bool:
        return event_type in self.event_types


USAGE = TopicSpec(
    name="billing.usage.v1",
    key="account_id",
    event_types=frozenset({"usage.recorded.v1"}),
    partition_class=PartitionClass.USAGE,
    description="Usage from mediation: voice seconds, SMS, data bytes.",
)
ACCOUNTS = TopicSpec(
    name="billing.accounts.v1",
    key="account_id",
    event_types=frozenset(
        {
            "account.opened.v1",
            "account.plan_changed.v1",
            "account.closed.v1",
            "account.suspended.v1",
            "account.restored.v1",
        }
    ),
    partition_class=PartitionClass.WORKFLOW,
    description=(
        "Account lifecycle: opened, plan changed, closed (from the CRM, or for non-payment by dunning),"
        " suspended and restored for non-payment (by src/billing/collections/)."
    ),
)
INVOICES_ISSUED = TopicSpec(
    name="billing.invoice-issued.v1",
    key="account_id",
    event_types=frozenset({"invoice.issued.v1", "invoice.held.v1", "credit_note.issued.v1"}),
    partition_class=PartitionClass.WORKFLOW,
    description="Invoices issued at cycle close, and invoices held for review instead (routed as tasks).",
)
CUSTOMER_CALLS = TopicSpec(
    name="billing.customer-calls.v1",
    key="account_id",
    event_types=frozenset({"call.started.v1", "call.answered.v1", "call.abandoned.v1", "call.ended.v1"}),
    partition_class=PartitionClass.WORKFLOW,
    description="Customer contacts from the contact centre: started, answered, abandoned, ended.",
)
DISPUTES = TopicSpec(
    name="billing.disputes.v1",
    key="account_id",
    event_types=frozenset({"dispute.opened.v1", "dispute.routed.v1", "dispute.in_review.v1", "dispute.resolved.v1"}),
    partition_class=PartitionClass.WORKFLOW,
    description="Invoice disputes: opened, routed, in review, resolved.",
)
DISCOUNTS_GRANTED = TopicSpec(
    name="billing.discounts-granted.v1",
    key="account_id",
    event_types=frozenset({"discount.granted.v1"}),
    partition_class=PartitionClass.WORKFLOW,
    description="Discounts and credits granted by agents.",
)
TASK_EVENT_TYPES = frozenset(
    {"task.routed.v1", "task.accepted.v1", "task.requeued.v1", "task.cancelled.v1", "task.completed.v1"}
)
TASK_EVENTS = TopicSpec(
    name="billing.task-events.v1",
    key="account_id",
    event_types=TASK_EVENT_TYPES,
    partition_class=PartitionClass.WORKFLOW,
    description="Agent-queue tasks: routed, accepted, requeued, cancelled, completed (from the queue store's outbox).",
)
PAYMENTS = TopicSpec(
    name="billing.payments.v1",
    key="account_id",
    event_types=frozenset(
        {"payment.received.v1", "payment.failed.v1", "payment.refunded.v1", "payment.charged_back.v1"}
    ),
    partition_class=PartitionClass.WORKFLOW,
    description="Payments from payment providers and bank feeds: received, failed, refunded, charged back.",
)
DEAD_LETTERS = TopicSpec(
    name="billing.dead-letters.v1",
    key="source topic:partition:offset",
    event_types=frozenset(),
    partition_class=PartitionClass.WORKFLOW,
    description="Messages that could not be decoded, validated or applied, with reason and source position.",
)

EVENT_TOPICS: tuple[TopicSpec, ...] = (
    USAGE,
    ACCOUNTS,
    INVOICES_ISSUED,
    CUSTOMER_CALLS,
    DISPUTES,
    DISCOUNTS_GRANTED,
    TASK_EVENTS,
    PAYMENTS,
)
ALL_TOPICS: tuple[TopicSpec, ...] = (*EVENT_TOPICS, DEAD_LETTERS)


QUEUE_TOPIC_PREFIX = "billing.queue."


def queue_topic(queue: str) -> TopicSpec:
    """The topic of one agent queue: the `task.routed.v1` of that queue, for any agent tool to consume.

    Not in EVENT_TOPICS: the same events are also on TASK_EVENTS, which is their home topic.
    """
    return TopicSpec(
        name=f"{QUEUE_TOPIC_PREFIX}{queue}.v1",
        key="account_id",
        event_types=frozenset({"task.routed.v1"}),
        partition_class=PartitionClass.WORKFLOW,
        description=f"Tasks routed to the {queue} agent queue.",
    )


def queue_topics(queues: Iterable[str]) -> tuple[TopicSpec, ...]:
    """One topic per queue of the routing configuration (see src/billing/care/config.py), in name order."""
    return tuple(queue_topic(queue) for queue in sorted(set(queues)))


def topic_for_event_type(event_type: str) -> TopicSpec:
    """The one topic an event type belongs on (used by producers: the demo, the load generator, the API)."""
    for spec in EVENT_TOPICS:
        if spec.accepts(event_type):
            return spec
    raise KeyError(f"no topic carries event type {event_type!r}")


def spec_for(name: str) -> TopicSpec | None:
    """The spec of a topic this system writes, a queue's topic included, by name; None for any other name."""
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    queue = name.removeprefix(QUEUE_TOPIC_PREFIX).removesuffix(".v1")
    if name.startswith(QUEUE_TOPIC_PREFIX) and name.endswith(".v1") and queue:
        return queue_topic(queue)
    return None


def by_name(name: str) -> TopicSpec:
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}")
