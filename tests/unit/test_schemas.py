"""Contract tests for the shared wire models in `schemas`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
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
    DeadLetter,
    DeadLetterErrorKind,
    Money,
    ServiceKind,
    account_id_of,
    currency_exponent,
    dump_event,
    example_events,
    explain,
    export_json_schemas,
    parse_event,
)
from billing.contracts.base import JSON_SAFE_MAX

EXAMPLES = example_events()
JsonObject = dict[str, object]


def _example_json(type_name: str) -> JsonObject:
    return json.loads(dump_event(EXAMPLES[type_name]))


def _with(type_name: str, path: str, value: object) -> bytes:
    """The example of `type_name` with the dotted `path` set to `value`."""
    document = _example_json(type_name)
    *parents, leaf = path.split(".")
    node: object = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value  # type: ignore[index]
    return json.dumps(document).encode()


def _rejected(raw: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_event(raw)
    return explain(caught.value)


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
    raw = _with("usage.recorded.v1", "occurred_at", "2026-11-01T12:00:00+02:00")
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
    document = _example_json(type_name)
    assert schema["properties"]["type"]["const"] == type_name
    _assert_required_present(document, schema, schema)


def test_union_schema_lists_every_type(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "event.json").read_text())
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)


# --- rejections with clear messages ------------------------------------------

AMOUNT = "payload.amount.amount_minor"


@pytest.mark.parametrize("bad", [1.5, "750", True, 750.0, None])
def test_amount_must_be_an_exact_integer(bad: object) -> None:
    message = _rejected(_with("dispute.opened.v1", AMOUNT, bad))
    assert message.startswith(f"{AMOUNT}: ")


def test_dispute_amount_must_be_positive() -> None:
    message = _rejected(_with("dispute.opened.v1", AMOUNT, 0))
    assert "payload.amount" in message and "greater than 0" in message


def test_amount_beyond_json_safe_range() -> None:
    message = _rejected(_with("dispute.opened.v1", AMOUNT, 2**63))
    assert AMOUNT in message


def test_negative_quantity() -> None:
    message = _rejected(_with("usage.recorded.v1", "payload.quantity", -1))
    assert message == "payload.quantity: Input should be greater than or equal to 0"


def test_float_quantity() -> None:
    assert "payload.quantity" in _rejected(_with("usage.recorded.v1", "payload.quantity", 2.5))


def test_unit_must_match_service() -> None:
    message = _rejected(_with("usage.recorded.v1", "payload.unit", "byte"))
    assert message.startswith("payload: ")
    assert "unit 'byte'" in message and "service 'voice'" in message
    assert "usage.recorded.v1" not in message  # discriminator tag stripped


@pytest.mark.parametrize("field", ["occurred_at", "payload.started_at"])
def test_naive_datetime(field: str) -> None:
    message = _rejected(_with("usage.recorded.v1", field, "2026-11-01T10:00:00"))
    assert message.startswith(f"{field}: ") and "timezone" in message


def test_numeric_timestamp() -> None:
    message = _rejected(_with("usage.recorded.v1", "payload.started_at", 1_793_000_000))
    assert "payload.started_at" in message and "ISO 8601" in message


def test_datetime_in_date_field() -> None:
    raw = _with("invoice.issued.v1", "payload.due_date", "2026-11-16T00:00:00Z")
    assert "payload.due_date" in _rejected(raw)


@pytest.mark.parametrize("bad", ["usage.recorded.v2", "", 7])
def test_unknown_event_type(bad: object) -> None:
    assert _rejected(_with("usage.recorded.v1", "type", bad)).startswith("type: ")


def test_missing_event_type() -> None:
    document = _example_json("usage.recorded.v1")
    del document["type"]
    assert _rejected(json.dumps(document).encode()).startswith("type: ")


@pytest.mark.parametrize("path", ["is_admin", "payload.credit_limit", "payload.contact.role"])
def test_extra_field_is_refused(path: str) -> None:
    message = _rejected(_with("account.opened.v1", path, "yes"))
    assert message == f"{path}: Extra inputs are not permitted"


@pytest.mark.parametrize("bad", ["XXX", "eur", "EURO", 978])
def test_invalid_currency(bad: object) -> None:
    message = _rejected(_with("dispute.opened.v1", "payload.amount.currency", bad))
    assert message.startswith("payload.amount.currency: ")


@pytest.mark.parametrize("bad", [True, 2, "1", 1.0])
def test_schema_version(bad: object) -> None:
    assert _rejected(_with("call.ended.v1", "schema_version", bad)).startswith("schema_version")


def test_invoice_lines_must_sum_to_subtotal() -> None:
    message = _rejected(_with("invoice.issued.v1", "payload.lines.0.amount_minor", 3000))
    assert "subtotal_minor is 3749 but charge lines sum to 3750" in message


def test_invoice_total_must_add_up() -> None:
    message = _rejected(_with("invoice.issued.v1", "payload.total_minor", 4105))
    assert "total_minor is 4105" in message


def test_invoice_charge_line_cannot_be_negative() -> None:
    raw = _with("invoice.issued.v1", "payload.lines.0.amount_minor", -1)
    message = _rejected(raw)
    assert message.startswith("payload.lines.0: ") and "amount_minor" in message


def test_invoice_line_ids_unique() -> None:
    message = _rejected(_with("invoice.issued.v1", "payload.lines.1.line_id", "l1"))
    assert "duplicate line_id l1" in message


def test_invoice_period_order() -> None:
    message = _rejected(_with("invoice.issued.v1", "payload.period_end", "2026-11-01"))
    assert "period_end" in message


def test_discount_approver_must_differ_from_granter() -> None:
    message = _rejected(_with("discount.granted.v1", "payload.approved_by", "agent-314"))
    assert "approved_by must differ from granted_by" in message


def test_discount_fields_must_fit_kind() -> None:
    raw = _with("discount.granted.v1", "payload.kind", "credit_note")
    message = _rejected(raw)
    for problem in ("percent_bp is not allowed", "amount is required", "invoice_id is required"):
        assert problem in message


def test_dispute_credited_needs_credit() -> None:
    message = _rejected(_with("dispute.resolved.v1", "payload.credit", None))
    assert "credit is required" in message


def test_dispute_rejected_forbids_credit() -> None:
    message = _rejected(_with("dispute.resolved.v1", "payload.outcome", "rejected"))
    assert "credit must be absent" in message


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe\x00", b"not json", b"[]", b"null", b"{", b'{"type":"call.ended.v1"}'])
def test_garbage_is_a_validation_error(raw: bytes) -> None:
    assert _rejected(raw)


def test_explain_is_bounded_and_does_not_echo_input() -> None:
    document = _example_json("invoice.issued.v1")
    payload: JsonObject = document["payload"]  # type: ignore[assignment]
    line = payload["lines"][0]  # type: ignore[index]
    payload["lines"] = [dict(line, amount_minor=-1) for _ in range(500)]
    message = _rejected(json.dumps(document).encode())
    assert len(message) <= 2000
    msisdn = _rejected(_with("usage.recorded.v1", "payload.msisdn", "49151abc"))
    assert "49151abc" not in msisdn and "payload.msisdn" in msisdn


# --- dead letters ------------------------------------------------------------

FAILED_AT = datetime(2026, 11, 1, 10, tzinfo=timezone(timedelta(hours=1)))


def test_dead_letter_keeps_original_bytes() -> None:
    letter = DeadLetter.from_raw(
        "usage.v1",
        3,
        42,
        None,
        b"\xff\x00garbage",
        "x" * 5000,
        DeadLetterErrorKind.UNDECODABLE,
        FAILED_AT,
    )
    assert letter.original_value() == b"\xff\x00garbage"
    assert letter.original_key() is None
    assert len(letter.reason) == 2000
    assert letter.failed_at.tzinfo is UTC
    assert letter.dead_letter_id == "usage.v1:3:42"
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


def test_dead_letter_rejects_bad_base64() -> None:
    letter = DeadLetter.from_raw("t", 0, 0, b"k", None, "r", DeadLetterErrorKind.INVALID, FAILED_AT)
    assert letter.original_key() == b"k" and letter.original_value() == b""
    document = json.loads(letter.model_dump_json())
    document["original_value_b64"] = "not base64!"
    with pytest.raises(ValidationError) as caught:
        DeadLetter.model_validate(document)
    assert explain(caught.value).startswith("original_value_b64: ")


# --- properties --------------------------------------------------------------


@given(st.integers(min_value=0, max_value=JSON_SAFE_MAX))
def test_any_quantity_round_trips(quantity: int) -> None:
    document = _example_json("usage.recorded.v1")
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


@given(st.one_of(st.integers(min_value=JSON_SAFE_MAX + 1), st.integers(max_value=-JSON_SAFE_MAX - 1)))
def test_money_outside_safe_range_is_refused(amount: int) -> None:
    with pytest.raises(ValidationError):
        Money(amount_minor=amount, currency="EUR")


def test_a_dead_letter_of_a_huge_message_fits_any_broker_and_points_at_the_whole() -> None:
    """A 900 kB refused record became a 1.2 MB letter, larger than the broker takes, and blocked the dead-letter
    topic. The letter now carries an excerpt, the whole value's size and SHA-256, and its dead_letters row id."""
    import hashlib

    from billing.contracts.dead_letters import KEY_EXCERPT_MAX, VALUE_EXCERPT_MAX

    value, key = bytes(range(256)) * 3600, b"k" * 5000  # 921,600 bytes; a key far over any sane one
    letter = DeadLetter.from_raw(
        "billing.usage.v1", 2, 7, key, value, "\u2028" * 5000, DeadLetterErrorKind.UNDECODABLE, FAILED_AT, stored_id=41
    )
    body = letter.model_dump_json().encode()
    assert len(body) < 128 * 1024 < 1024 * 1024  # the broker's default message limit is 1 MiB
    assert letter.truncated and letter.stored_id == 41
    assert letter.original_value() == value[:VALUE_EXCERPT_MAX] and letter.original_key() == key[:KEY_EXCERPT_MAX]
    assert letter.original_value_size == 921_600
    assert letter.original_value_sha256 == hashlib.sha256(value).hexdigest()
    assert DeadLetter.model_validate_json(body) == letter


def test_a_small_dead_letter_is_whole() -> None:
    letter = DeadLetter.from_raw("t", 0, 0, b"k", b"tiny", "r", DeadLetterErrorKind.INVALID, FAILED_AT)
    assert not letter.truncated and letter.original_value() == b"tiny" and letter.original_value_size == 4


def test_free_text_refuses_a_nul_character() -> None:
    document = _example_json("usage.recorded.v1")
    document["source"] = "mediation\x00"
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_python(document)
    assert explain(caught.value) == "source: text must not contain a NUL character"
