"""`billing docs events|asyncapi`: the event pages, generated from the models and the topic definitions.

The generators are pure (src/billing/contracts/docs.py, asyncapi.py); this module joins them to the topic
definitions of src/billing/platform/topics.py, which contracts may not import, and writes the files.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import click

from billing.contracts import EVENT_TYPES
from billing.contracts.asyncapi import asyncapi_yaml
from billing.contracts.docs import TopicDoc, events_markdown
from billing.platform import topics as t
from billing.platform.settings import Settings

UPSTREAM, BILLING = "upstream producers", "this system"
# Who writes what: the closer, the credit notes, the dispute store and the agent API, the discount service and the
# queue store publish these through the outbox; upstream producers publish everything else (and may publish
# invoices, disputes and grants too, which the workers then project).
BILLING_PUBLISHES: dict[str, tuple[str, ...]] = {
    t.INVOICES_ISSUED.name: ("invoice.issued.v1", "invoice.held.v1", "credit_note.issued.v1"),
    t.DISPUTES.name: ("dispute.opened.v1", "dispute.routed.v1", "dispute.in_review.v1", "dispute.resolved.v1"),
    t.DISCOUNTS_GRANTED.name: ("discount.granted.v1",),
    t.TASK_EVENTS.name: tuple(sorted(t.TASK_EVENT_TYPES, key=list(EVENT_TYPES).index)),
    # Dunning (src/billing/collections/) suspends, restores and closes accounts for non-payment.
    t.ACCOUNTS.name: ("account.closed.v1", "account.suspended.v1", "account.restored.v1"),
}
QUEUE_PLACEHOLDER = "<queue>"


def _partitions(spec: t.TopicSpec) -> tuple[str, int]:
    field = "usage_partitions" if spec.partition_class is t.PartitionClass.USAGE else "workflow_partitions"
    return field.upper(), int(Settings.model_fields[field].default)


def _ordered(event_types: frozenset[str]) -> tuple[str, ...]:
    return tuple(name for name in EVENT_TYPES if name in event_types)


def _doc(spec: t.TopicSpec, published_by: str, consumed: bool = True) -> TopicDoc:
    setting, default = _partitions(spec)
    return TopicDoc(
        name=spec.name,
        key=spec.key,
        event_types=_ordered(spec.event_types),
        partitions_setting=setting,
        partitions_default=default,
        description=spec.description,
        published_by=published_by,
        billing_publishes=BILLING_PUBLISHES.get(spec.name, ()),
        consumed=consumed,
    )


def documented_topics() -> tuple[TopicDoc, ...]:
    """Every topic of src/billing/platform/topics.py, the per-queue topic as one entry, in declaration order."""
    docs = [
        _doc(spec, BILLING if spec is t.TASK_EVENTS else f"{UPSTREAM} and {BILLING}")
        if spec.name in BILLING_PUBLISHES
        else _doc(spec, UPSTREAM)
        for spec in t.EVENT_TOPICS
    ]
    queue = _doc(t.queue_topic(QUEUE_PLACEHOLDER), BILLING, consumed=False)
    description = (
        "One topic per agent queue of the routing configuration (src/billing/care/config.py): the"
        f" `task.routed.v1` of that queue, for agent tools. The same events are on `{t.TASK_EVENTS.name}`."
    )
    docs.append(replace(queue, description=description, billing_publishes=("task.routed.v1",)))
    dead = _doc(t.DEAD_LETTERS, BILLING, consumed=False)
    docs.append(replace(dead, dead_letters=True, billing_publishes=("dead-letter",)))
    return tuple(docs)


def events_page() -> str:
    return events_markdown(documented_topics())


def asyncapi_text() -> str:
    return asyncapi_yaml(documented_topics(), version("billing-workflow"))


def register(main: click.Group) -> None:
    @main.group("docs")
    def docs() -> None:
        """Generated documentation: the event pages (kept in sync with the models by a test)."""

    @docs.command("events")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/events.md"))
    def docs_events(path: Path) -> None:
        """Write the events-and-topics page (default docs/events.md)."""
        _write(path, events_page())

    @docs.command("asyncapi")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/asyncapi.yaml"))
    def docs_asyncapi(path: Path) -> None:
        """Write the AsyncAPI 3.0 document of every topic (default docs/asyncapi.yaml)."""
        _write(path, asyncapi_text())


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(str(path))
