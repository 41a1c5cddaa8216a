"""The event pages are generated from the models: the committed ones must be what the generator writes today."""

from __future__ import annotations

from pathlib import Path

import yaml

from billing.contracts import EVENT_TYPES
from billing.entrypoints.cli.docs_commands import asyncapi_text, documented_topics, events_page
from billing.platform.topics import ALL_TOPICS

DOCS = Path(__file__).resolve().parents[3] / "docs"
REGENERATE = "run `billing docs events` and `billing docs asyncapi` and commit docs/"


def test_events_page_is_what_the_models_generate() -> None:
    assert (DOCS / "events.md").read_text(encoding="utf-8") == events_page(), REGENERATE


def test_asyncapi_document_is_what_the_models_generate() -> None:
    assert (DOCS / "asyncapi.yaml").read_text(encoding="utf-8") == asyncapi_text(), REGENERATE


def test_every_topic_and_event_type_is_documented() -> None:
    names = {topic.name for topic in documented_topics()}
    assert {spec.name for spec in ALL_TOPICS} <= names
    page = events_page()
    assert all(f"### `{event_type}`" in page for event_type in EVENT_TYPES)


def test_asyncapi_document_references_resolve() -> None:
    document = yaml.safe_load(asyncapi_text())
    assert document["asyncapi"] == "3.0.0"
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(value for key, value in node.items() if key == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    for ref in refs:
        node: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"unresolved {ref}"
            node = node[part]
