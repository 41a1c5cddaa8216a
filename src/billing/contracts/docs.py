"""The events-and-topics page (docs/events.md), generated from the event models so the two cannot disagree.

Pure: it renders text from the pydantic models' JSON Schemas and from topic descriptions handed in by the caller
(the topic definitions live in `billing.platform.topics`, which contracts must not import: platform imports
contracts). `billing docs events` writes the page; a unit test regenerates it and compares it with the committed one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.contracts.dead_letters import DeadLetter, DeadLetterErrorKind
from billing.contracts.envelope import EVENT_TYPES, EnvelopeBase
from billing.contracts.examples import example_events

Schema = dict[str, Any]
JSON_SAFE_MAX = 2**53 - 1
_ENUM_SHOWN = 12  # longer enumerations (the currency codes) are summarised, not listed
_CURRENCY_PATTERN = "^[A-Z]{3}$"
_FORMAT_WORDS = {"date-time": "ISO 8601 with a time zone, read as UTC", "date": "YYYY-MM-DD"}
# The envelope's fields carry no description in the model (a subclass narrows `type`); their meaning, once:
_ENVELOPE_WORDS = {
    "event_id": "unique per event: the idempotency key of its effect",
    "type": "the event type with its version, e.g. `usage.recorded.v1`",
    "source": "the producer, e.g. `mediation/switch-12`",
    "occurred_at": "when it happened (event time)",
    "schema_version": "the envelope's version",
}


@dataclass(frozen=True)
class TopicDoc:
    """What the documents say about one topic: the caller builds these from the topic definitions."""

    name: str  # a queue topic's name holds the placeholder `<queue>`
    key: str
    event_types: tuple[str, ...]
    partitions_setting: str
    partitions_default: int
    description: str
    published_by: str  # who writes it: upstream producers, this system, or both
    billing_publishes: tuple[str, ...] = ()  # the event types this system itself publishes on it
    consumed: bool = True  # the workers read it
    dead_letters: bool = False  # carries DeadLetter records, not event envelopes


def example_dead_letter() -> DeadLetter:
    """A usage record that was not JSON, as the dead-letter topic carries it."""
    return DeadLetter.from_raw(
        "billing.usage.v1",
        3,
        1187,
        b"acc-100042",
        b'{"event_id": "evt-9", "type": "usage.recorded.v1"',
        "not valid JSON: Invalid JSON: EOF while parsing an object at line 1 column 50",
        DeadLetterErrorKind.UNDECODABLE,
        datetime(2026, 11, 1, 10, 0, 5, tzinfo=UTC),
        stored_id=1187,
    )


def example_json(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"), indent=2, ensure_ascii=False)


# ---- one field of a JSON Schema, in words ----------------------------------------------------------------------


def _resolve(schema: Schema, defs: dict[str, Schema]) -> tuple[str | None, Schema]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.rsplit("/", 1)[-1]
    return name, defs[name]


def _bound(value: int) -> str:
    if value == JSON_SAFE_MAX:
        return "2^53-1"
    if value == -JSON_SAFE_MAX:
        return "-(2^53-1)"
    return f"{value:,}"


def _enum_words(values: list[Any]) -> str:
    if len(values) <= _ENUM_SHOWN:
        return "one of " + ", ".join(f"`{v}`" for v in values)
    return f"one of {len(values)} values, `{values[0]}` to `{values[-1]}`"


def _constraints(schema: Schema) -> list[str]:
    words: list[str] = []
    if schema.get("pattern") == _CURRENCY_PATTERN and len(schema.get("enum", ())) > _ENUM_SHOWN:
        return [f"ISO 4217 code, one of the {len(schema['enum'])} active ones (`src/billing/money.py`)"]
    if "const" in schema:
        words.append(f"always `{schema['const']}`")
    if "enum" in schema:
        words.append(_enum_words(schema["enum"]))
    if schema.get("format") in _FORMAT_WORDS:
        words.append(_FORMAT_WORDS[schema["format"]])
    if "pattern" in schema and "enum" not in schema:
        words.append(f"pattern `{schema['pattern']}`")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if high is not None:
        words.append(f"{low or 0} to {high} characters")
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        words.append(f"{_bound(low)} to {_bound(high)}")
    elif low is not None:
        words.append(f"at least {_bound(low)}")
    if schema.get("minItems"):
        words.append(f"at least {schema['minItems']} item{'s' if schema['minItems'] > 1 else ''}")
    return words


def describe(schema: Schema, defs: dict[str, Schema]) -> tuple[str, str]:
    """The type of one property and its constraints, in words: ("string (date-time)", "pattern ...")."""
    options = schema.get("anyOf")
    if options:
        present = [option for option in options if option.get("type") != "null"]
        if len(present) == 1 and len(options) == 2:
            present_kind, present_words = describe(present[0], defs)
            return f"{present_kind} or null", present_words
    name, target = _resolve(schema, defs)
    if name is not None and target.get("type") == "object":
        return f"[{name}](#{name.lower()})", target.get("description", "")
    words = _constraints(target)
    if name is not None:
        words.insert(0, name)
    kind = target.get("type", "any")
    if kind == "array":
        item_kind, item_words = describe(target.get("items", {}), defs)
        kind = f"array of {item_kind}"
        words += [f"each: {item_words}"] if item_words else []
    elif "format" in target:
        kind = f"{kind} ({target['format']})"
    return kind, "; ".join(words)


def field_rows(model_schema: Schema, defs: dict[str, Schema], meanings: dict[str, str] | None = None) -> list[str]:
    """A Markdown table of a model's fields: name, type, required, description."""
    required = set(model_schema.get("required", ()))
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in model_schema.get("properties", {}).items():
        kind, words = describe(prop, defs)
        own = prop.get("description") or (meanings or {}).get(name)
        text = f"{own}; {words}" if own and words else (own or words)
        rows.append(f"| `{name}` | {_cell(kind)} | {'yes' if name in required else 'no'} | {_cell(text)} |")
    return rows


def _cell(text: str) -> str:
    # A pipe would end the table cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(schema: Schema) -> str:
    text = schema.get("description", "")
    return " ".join(text.split())


# ---- the page ----------------------------------------------------------------------------------------------------

_HEADER = """# Events and topics

<!-- Generated by `billing docs events` from src/billing/contracts/ and src/billing/platform/topics.py: do not edit.
     tests/unit/docs/test_generated_pages.py fails when this page and the models disagree. -->

Every topic is declared once in `src/billing/platform/topics.py`; every event model is a pydantic model in
`src/billing/contracts/`. This page is generated from both (`billing docs events`), and so is the AsyncAPI 3.0
document [asyncapi.yaml](asyncapi.yaml) (`billing docs asyncapi`), whose payload schemas are the models' JSON
Schemas. `billing schemas export DIR` writes the same JSON Schemas one file per event type, for upstream producers
to validate against.

Every event topic is keyed by the account id, so one account's events stay in order on one partition; a record
whose key is not its `payload.account_id` is dead-lettered. Every message is one JSON envelope (below); models are
frozen and refuse unknown fields, so a producer's typo is a dead letter, not a silently dropped value. Money is
always integer minor units with the ISO 4217 currency beside them (see [the money rules](invoicing.md#money)).
"""


def _topic_table(topics: tuple[TopicDoc, ...]) -> list[str]:
    rows = ["| topic | key | partitions | event types | published by |", "|---|---|---|---|---|"]
    for topic in topics:
        kinds = ", ".join(f"`{t}`" for t in topic.event_types) or "dead letters (not events)"
        rows.append(
            f"| `{topic.name}` | `{topic.key}` | `{topic.partitions_setting}` ({topic.partitions_default}) "
            f"| {kinds} | {topic.published_by} |"
        )
    return rows


def _envelope_section() -> list[str]:
    schema = EnvelopeBase.model_json_schema()
    rows = field_rows(schema, schema.get("$defs", {}), _ENVELOPE_WORDS)
    rows.append("| `payload` | object | yes | the event's payload, by `type` (below) |")
    return ["## The envelope", "", *rows, ""]


def _event_section(event_type: str) -> list[str]:
    schema = EVENT_TYPES[event_type].model_json_schema()
    defs = schema.get("$defs", {})
    _, payload = _resolve(schema["properties"]["payload"], defs)
    summary = _summary(payload)
    return [f"### `{event_type}`", "", *([summary, ""] if summary else []), *field_rows(payload, defs), ""]


def _topic_section(topic: TopicDoc, examples: dict[str, Any]) -> list[str]:
    lines = [f"## `{topic.name}`", "", topic.description, ""]
    lines += [
        f"- key: `{topic.key}`",
        f"- partitions: `{topic.partitions_setting}` (default {topic.partitions_default})",
        f"- published by: {topic.published_by}",
        "",
    ]
    if topic.dead_letters:
        schema = DeadLetter.model_json_schema()
        lines += [_summary(schema), "", *field_rows(schema, schema.get("$defs", {})), ""]
        example = example_dead_letter()
        lines += [f"`{topic.name}` (key `{example.dead_letter_id}`):", "", "```json", example_json(example), "```"]
        return [*lines, ""]
    first = next((examples[t] for t in topic.event_types if t in examples), None)
    if first is not None and "<" not in topic.name:
        key = first.payload.account_id
        lines += [f"`{topic.name}` (key `{key}`):", "", "```json", example_json(first), "```", ""]
    for event_type in topic.event_types:
        if "<" in topic.name:
            lines += [f"Carries `{event_type}` (see its table above).", ""]
        else:
            lines += _event_section(event_type)
    return lines


def _shared_types() -> list[str]:
    """Every object type that payloads nest (Money, InvoiceLine, Contact), once, where the tables link."""
    found: dict[str, tuple[Schema, dict[str, Schema]]] = {}
    payloads = _payload_names()
    for cls in EVENT_TYPES.values():
        defs = cls.model_json_schema().get("$defs", {})
        for name, schema in defs.items():
            if schema.get("type") == "object" and name not in payloads:
                found.setdefault(name, (schema, defs))
    lines = ["## Shared types", ""]
    for name in sorted(found):
        schema, defs = found[name]
        summary = _summary(schema)
        lines += [f"### {name}", "", *([summary, ""] if summary else []), *field_rows(schema, defs), ""]
    return lines


def _payload_names() -> set[str]:
    return {cls.model_fields["payload"].annotation.__name__ for cls in EVENT_TYPES.values()}  # type: ignore[union-attr]


def events_markdown(topics: tuple[TopicDoc, ...]) -> str:
    """docs/events.md: the topics, the envelope, each event's fields, one example per topic, the shared types."""
    examples = example_events()
    lines = [_HEADER, "## Topics", "", *_topic_table(topics), "", *_envelope_section()]
    for topic in topics:
        lines += _topic_section(topic, examples)
    lines += _shared_types()
    return "\n".join(lines).rstrip("\n") + "\n"
