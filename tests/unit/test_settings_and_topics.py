"""Settings come from the environment; topics are declared once; docs/ documents both as they are."""

from __future__ import annotations

from pathlib import Path

from billing.contracts import EVENT_TYPES
from billing.entrypoints.cli.settings_doc import settings_table
from billing.platform.settings import load_settings
from billing.platform.topics import ALL_TOPICS, EVENT_TOPICS, topic_for_event_type

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPERATIONS, EVENTS = DOCS / "operations.md", DOCS / "events.md"


def test_environment_is_read_when_asked(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("USAGE_PARTITIONS", "24")
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.usage_partitions == 24
    assert settings.idempotent_producer is True  # Apache Kafka: idempotence on
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    assert load_settings().idempotent_producer is False  # embedded Tansu cannot


def test_every_event_type_has_exactly_one_topic() -> None:
    for event_type in EVENT_TYPES:
        owners = [t.name for t in EVENT_TOPICS if t.accepts(event_type)]
        assert owners == [topic_for_event_type(event_type).name]
    assert len({t.name for t in ALL_TOPICS}) == len(ALL_TOPICS)


def test_docs_document_every_setting_as_the_code_defines_it() -> None:
    assert settings_table() in OPERATIONS.read_text(), (
        "run `billing settings` and paste the table into docs/operations.md"
    )


def test_docs_name_every_topic() -> None:
    text = EVENTS.read_text()
    assert all(f"`{t.name}`" in text for t in ALL_TOPICS)


def test_docs_examples_are_valid_messages_for_their_topic() -> None:
    import re

    from billing.contracts import DeadLetter, parse_event
    from billing.platform.topics import DEAD_LETTERS, by_name

    blocks = re.findall(
        r"`(billing\.[a-z.-]+\.v1)` \(key `([^`]+)`\):\n\n```json\n(.*?)\n```", EVENTS.read_text(), re.S
    )
    assert len(blocks) == len(ALL_TOPICS)
    for topic, key, body in blocks:
        if topic == DEAD_LETTERS.name:
            assert DeadLetter.model_validate_json(body).dead_letter_id == key
            continue
        event = parse_event(body.encode())
        assert by_name(topic).accepts(event.type) and event.payload.account_id == key


def test_the_outbox_relay_knows_the_spec_of_every_topic_it_may_have_to_create() -> None:
    from billing.platform.topics import ALL_TOPICS, queue_topic, spec_for

    assert all(spec_for(spec.name) == spec for spec in ALL_TOPICS)
    assert spec_for("billing.queue.tier2.v1") == queue_topic("tier2")
    assert spec_for("billing.queue..v1") is None and spec_for("someone.elses.topic") is None
