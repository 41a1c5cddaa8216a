"""Contract tests for the shared wire models: what they refuse, with a clear message that does not echo the input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.contracts import (
    EVENT_ADAPTER,
    Money,
    explain,
)
from billing.contracts.base import JSON_SAFE_MAX
from tests.unit.schema_helpers import JsonObject, example_json, rejected, with_field

# --- rejections with clear messages ------------------------------------------

AMOUNT = "payload.amount.amount_minor"


@pytest.mark.parametrize("bad", [1.5, "750", True, 750.0, None])
def test_amount_must_be_an_exact_integer(bad: object) -> None:
    message = rejected(with_field("dispute.opened.v1", AMOUNT, bad))
    assert message.startswith(f"{AMOUNT}: ")


def test_dispute_amount_must_be_positive() -> None:
    message = rejected(with_field("dispute.opened.v1", AMOUNT, 0))
    assert "payload.amount" in message and "greater than 0" in message


def test_amount_beyond_json_safe_range() -> None:
    message = rejected(with_field("dispute.opened.v1", AMOUNT, 2**63))
    assert AMOUNT in message


def test_negative_quantity() -> None:
    message = rejected(with_field("usage.recorded.v1", "payload.quantity", -1))
    assert message == "payload.quantity: Input should be greater than or equal to 0"


def test_float_quantity() -> None:
    assert "payload.quantity" in rejected(with_field("usage.recorded.v1", "payload.quantity", 2.5))


def test_unit_must_match_service() -> None:
    message = rejected(with_field("usage.recorded.v1", "payload.unit", "byte"))
    assert message.startswith("payload: ")
    assert "unit 'byte'" in message and "service 'voice'" in message
    assert "usage.recorded.v1" not in message  # discriminator tag stripped


@pytest.mark.parametrize("field", ["occurred_at", "payload.started_at"])
def test_naive_datetime(field: str) -> None:
    message = rejected(with_field("usage.recorded.v1", field, "2026-11-01T10:00:00"))
    assert message.startswith(f"{field}: ") and "timezone" in message


def test_numeric_timestamp() -> None:
    message = rejected(with_field("usage.recorded.v1", "payload.started_at", 1_793_000_000))
    assert "payload.started_at" in message and "ISO 8601" in message


def test_datetime_in_date_field() -> None:
    raw = with_field("invoice.issued.v1", "payload.due_date", "2026-11-16T00:00:00Z")
    assert "payload.due_date" in rejected(raw)


@pytest.mark.parametrize("bad", ["usage.recorded.v2", "", 7])
def test_unknown_event_type(bad: object) -> None:
    assert rejected(with_field("usage.recorded.v1", "type", bad)).startswith("type: ")


def test_missing_event_type() -> None:
    document = example_json("usage.recorded.v1")
    del document["type"]
    assert rejected(json.dumps(document).encode()).startswith("type: ")


@pytest.mark.parametrize("path", ["is_admin", "payload.credit_limit", "payload.contact.role"])
def test_extra_field_is_refused(path: str) -> None:
    message = rejected(with_field("account.opened.v1", path, "yes"))
    assert message == f"{path}: Extra inputs are not permitted"


@pytest.mark.parametrize("bad", ["XXX", "eur", "EURO", 978])
def test_invalid_currency(bad: object) -> None:
    message = rejected(with_field("dispute.opened.v1", "payload.amount.currency", bad))
    assert message.startswith("payload.amount.currency: ")


@pytest.mark.parametrize("bad", [True, 2, "1", 1.0])
def test_schema_version(bad: object) -> None:
    assert rejected(with_field("call.ended.v1", "schema_version", bad)).startswith("schema_version")


def test_invoice_lines_must_sum_to_subtotal() -> None:
    message = rejected(with_field("invoice.issued.v1", "payload.lines.0.amount_minor", 3000))
    assert "subtotal_minor is 3749 but charge lines sum to 3750" in message


def test_invoice_total_must_add_up() -> None:
    message = rejected(with_field("invoice.issued.v1", "payload.total_minor", 4105))
    assert "total_minor is 4105" in message


def test_invoice_charge_line_cannot_be_negative() -> None:
    raw = with_field("invoice.issued.v1", "payload.lines.0.amount_minor", -1)
    message = rejected(raw)
    assert message.startswith("payload.lines.0: ") and "amount_minor" in message


def test_invoice_line_ids_unique() -> None:
    message = rejected(with_field("invoice.issued.v1", "payload.lines.1.line_id", "l1"))
    assert "duplicate line_id l1" in message


def test_invoice_period_order() -> None:
    message = rejected(with_field("invoice.issued.v1", "payload.period_end", "2026-11-01"))
    assert "period_end" in message


def test_discount_approver_must_differ_from_granter() -> None:
    message = rejected(with_field("discount.granted.v1", "payload.approved_by", "agent-314"))
    assert "approved_by must differ from granted_by" in message


def test_discount_fields_must_fit_kind() -> None:
    raw = with_field("discount.granted.v1", "payload.kind", "credit_note")
    message = rejected(raw)
    for problem in ("percent_bp is not allowed", "amount is required", "invoice_id is required"):
        assert problem in message


def test_dispute_credited_needs_credit() -> None:
    message = rejected(with_field("dispute.resolved.v1", "payload.credit", None))
    assert "credit is required" in message


def test_dispute_rejected_forbids_credit() -> None:
    message = rejected(with_field("dispute.resolved.v1", "payload.outcome", "rejected"))
    assert "credit must be absent" in message


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe\x00", b"not json", b"[]", b"null", b"{", b'{"type":"call.ended.v1"}'])
def test_garbage_is_a_validation_error(raw: bytes) -> None:
    assert rejected(raw)


def test_explain_is_bounded_and_does_not_echo_input() -> None:
    document = example_json("invoice.issued.v1")
    payload: JsonObject = document["payload"]  # type: ignore[assignment]
    line = payload["lines"][0]  # type: ignore[index]
    payload["lines"] = [dict(line, amount_minor=-1) for _ in range(500)]
    message = rejected(json.dumps(document).encode())
    assert len(message) <= 2000
    msisdn = rejected(with_field("usage.recorded.v1", "payload.msisdn", "49151abc"))
    assert "49151abc" not in msisdn and "payload.msisdn" in msisdn


@given(st.one_of(st.integers(min_value=JSON_SAFE_MAX + 1), st.integers(max_value=-JSON_SAFE_MAX - 1)))
def test_money_outside_safe_range_is_refused(amount: int) -> None:
    with pytest.raises(ValidationError):
        Money(amount_minor=amount, currency="EUR")


def test_free_text_refuses_a_nul_character() -> None:
    document = example_json("usage.recorded.v1")
    document["source"] = "mediation\x00"
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_python(document)
    assert explain(caught.value) == "source: text must not contain a NUL character"
