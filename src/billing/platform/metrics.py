"""Prometheus metrics of a worker process, on a registry of its own (so tests can build several)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events_in = Counter("billing_events_in", "Messages read from a topic.", ["topic"], registry=r)
        self.events_applied = Counter(
            "billing_events_applied", "Events whose effect was written.", ["topic", "type"], registry=r
        )
        self.events_duplicate = Counter(
            "billing_events_duplicate", "Events seen before (idempotency key hit); no effect.", ["topic"], registry=r
        )
        self.events_out = Counter("billing_events_out", "Messages published to a topic.", ["topic"], registry=r)
        self.dead_letters = Counter(
            "billing_dead_letters", "Messages sent to the dead-letter topic.", ["topic", "kind"], registry=r
        )
        self.retries = Counter(
            "billing_infrastructure_retries", "Batches retried after a database or broker error.", ["topic"], registry=r
        )
        self.consumer_lag = Gauge(
            "billing_consumer_lag", "Messages behind the partition's end offset.", ["topic", "partition"], registry=r
        )
        self.assigned_partitions = Gauge(
            "billing_assigned_partitions",
            "Partitions of a topic this worker's consumer holds now.",
            ["topic"],
            registry=r,
        )
        self.usage_parked = Counter(
            "billing_usage_parked", "Usage records parked until their account is known.", registry=r
        )
        self.tasks_cancelled = Counter(
            "billing_tasks_cancelled",
            "Agent-queue tasks cancelled (caller abandoned, account closed).",
            ["queue", "cause"],
            registry=r,
        )
        self.tasks_requeued = Counter(
            "billing_tasks_requeued",
            "Tasks returned to waiting by the sweeper (lease or handling time ran out) or widened.",
            ["cause"],
            registry=r,
        )
        self.outbox_pending = Gauge("billing_outbox_pending", "Events written but not yet published.", registry=r)
        self.outbox_send_failures = Counter(
            "billing_outbox_send_failures", "Outbox sends that failed or timed out, per topic.", ["topic"], registry=r
        )
        self.outbox_topic_failing = Gauge(
            "billing_outbox_topic_failing",
            "1 while a topic's outbox rows keep failing to publish.",
            ["topic"],
            registry=r,
        )
        self.outbox_parked = Counter(
            "billing_outbox_parked",
            "Outbox rows set aside because the broker refuses them (too large, say).",
            ["topic"],
            registry=r,
        )
        self.broker_data_lost = Counter(
            "billing_broker_data_lost",
            "Times the broker was found without events it had acknowledged.",
            ["topic", "what"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "billing_batch_seconds",
            "Time to apply one batch (decode, write, commit).",
            ["topic"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
