"""Contract tests for the shared wire models in `billing.contracts`: examples, round trips, exported schemas
(what they refuse: test_schema_refusals.py; dead letters: test_dead_letters.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.contracts import (
    CURRENCY_EXPONENTS,
    EVENT_ADAPTER,
    EVENT_TYPES,
    UNIT_FOR_SERVICE,
    Money,
    ServiceKind,
    account_id_of,
    currency_exponent,
    dump_event,
    export_json_schemas,
    parse_event,
)
from billing.contracts.base import JSON_SAFE_MAX
from tests.unit.schema_helpers import EXAMPLES, JsonObject, example_json, with_field

# --- examples, round trips, helpers -----------------------------------------


def test_every_event_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(EVENT_TYPES)
    for name, event in EXAMPLES.items():
        assert type(event) is EVENT_TYPES[name]


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_example_round_trips(type_name: str) -> None:
    event = EXAMPLES[type_name]
    raw = dump_event(event)
    assert b"\n" not in raw and b": " not in raw  # compact wire form
    assert parse_event(raw) == event
    assert dump_event(parse_event(raw)) == raw


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_account_id_of_reads_the_payload(type_name: str) -> None:
    event = EXAMPLES[type_name]
    assert account_id_of(event) == event.payload.account_id


def test_invoice_example_really_sums() -> None:
    invoice = EXAMPLES["invoice.issued.v1"].payload
    assert sum(line.amount_minor for line in invoice.lines) == invoice.total_minor


def test_events_are_frozen() -> None:
    event = EXAMPLES["usage.recorded.v1"]
    with pytest.raises(ValidationError):
        event.payload.quantity = 1  # type: ignore[misc]


def test_timestamps_are_normalised_to_utc() -> None:
    raw = with_field("usage.recorded.v1", "occurred_at", "2026-11-01T12:00:00+02:00")
    occurred = parse_event(raw).occurred_at
    assert occurred.tzinfo is UTC
    assert occurred == datetime(2026, 11, 1, 10, tzinfo=UTC)


def test_unit_table_covers_every_service() -> None:
    assert set(UNIT_FOR_SERVICE) == set(ServiceKind)


def test_currency_table() -> None:
    required = {
        "EUR": 2,
        "USD": 2,
        "GBP": 2,
        "CHF": 2,
        "SEK": 2,
        "NOK": 2,
        "DKK": 2,
        "PLN": 2,
        "CZK": 2,
        "JPY": 0,
        "CLP": 0,
        "KRW": 0,
        "ISK": 0,
        "BHD": 3,
        "KWD": 3,
        "JOD": 3,
    }
    assert required.items() <= CURRENCY_EXPONENTS.items()
    assert currency_exponent("JPY") == 0
    with pytest.raises(ValueError, match="XTS"):
        currency_exponent("XTS")


def test_money_as_decimal_is_exact() -> None:
    assert str(Money(amount_minor=1999, currency="EUR").as_decimal()) == "19.99"
    assert str(Money(amount_minor=1500, currency="JPY").as_decimal()) == "1500"
    assert str(Money(amount_minor=-1234, currency="BHD").as_decimal()) == "-1.234"


# --- JSON Schema export -------------------------------------------------------


def _resolve(schema: JsonObject, root: JsonObject) -> JsonObject:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return root["$defs"][ref.rsplit("/", 1)[-1]]  # type: ignore[index,no-any-return]
    return schema


def _assert_required_present(value: object, schema: JsonObject, root: JsonObject) -> None:
    # jsonschema is not installed in the project env, so check the part that
    # matters most: every required key exists, recursively through $refs.
    schema = _resolve(schema, root)
    if isinstance(value, dict) and "properties" in schema:
        assert set(schema.get("required", [])) <= set(value)  # type: ignore[arg-type]
        assert schema.get("additionalProperties") is False
        assert set(value) <= set(schema["properties"])  # type: ignore[arg-type]
        for key, item in value.items():
            _assert_required_present(item, schema["properties"][key], root)  # type: ignore[index]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _assert_required_present(item, schema["items"], root)  # type: ignore[arg-type]
    for option in schema.get("anyOf", []):  # type: ignore[attr-defined]
        if value is not None and "$ref" in option:
            _assert_required_present(value, option, root)


def test_export_writes_one_schema_per_type(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path / "out")
    expected = {f"{name}.json" for name in EVENT_TYPES} | {"event.json", "dead-letter.json"}
    assert [p.name for p in written] == sorted(expected)
    assert written == sorted(written)
    assert all(p.read_text().endswith("\n") for p in written)


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_example_matches_exported_schema(tmp_path: Path, type_name: str) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / f"{type_name}.json").read_text())
    document = example_json(type_name)
    assert schema["properties"]["type"]["const"] == type_name
    _assert_required_present(document, schema, schema)


def test_union_schema_lists_every_type(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "event.json").read_text())
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)


# --- properties --------------------------------------------------------------


@given(st.integers(min_value=0, max_value=JSON_SAFE_MAX))
def test_any_quantity_round_trips(quantity: int) -> None:
    document = example_json("usage.recorded.v1")
    document["payload"]["quantity"] = quantity  # type: ignore[index]
    event = EVENT_ADAPTER.validate_python(document)
    parsed = parse_event(dump_event(event))
    assert parsed == event and parsed.payload.quantity == quantity


@given(
    st.integers(min_value=-JSON_SAFE_MAX, max_value=JSON_SAFE_MAX),
    st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_any_money_round_trips(amount: int, currency: str) -> None:
    money = Money(amount_minor=amount, currency=currency)
    parsed = Money.model_validate_json(money.model_dump_json())
    assert parsed == money and parsed.amount_minor == amount
