"""Decoding a raw record: every failure is classified with a reason a person can act on."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from billing.contracts import dump_event, example_events
from billing.platform.decoding import ErrorKind, RawMessage, Rejection, decode
from billing.platform.topics import ACCOUNTS, USAGE

USAGE_EVENT = example_events()["usage.recorded.v1"]
ACCOUNT = USAGE_EVENT.payload.account_id


def _msg(value: bytes | None, key: bytes | None = ACCOUNT.encode()) -> RawMessage:
    return RawMessage(USAGE.name, 3, 42, key, value)


def test_a_valid_record_decodes_to_its_event() -> None:
    assert decode(_msg(dump_event(USAGE_EVENT)), USAGE) == USAGE_EVENT


def test_garbage_is_undecodable() -> None:
    result = decode(_msg(b"\x00\xff garbage"), USAGE)
    assert isinstance(result, Rejection) and result.kind is ErrorKind.UNDECODABLE
    assert "not valid JSON" in result.reason


def test_empty_value_is_undecodable() -> None:
    assert decode(_msg(None), USAGE) == Rejection(
        ErrorKind.UNDECODABLE, "empty message value (a tombstone is not an event)"
    )


def test_schema_violation_names_the_field() -> None:
    body = orjson.loads(dump_event(USAGE_EVENT))
    body["payload"]["quantity"] = -1
    result = decode(_msg(orjson.dumps(body)), USAGE)
    assert isinstance(result, Rejection) and result.kind is ErrorKind.INVALID
    assert result.reason.startswith("payload.quantity:")


def test_an_event_on_the_wrong_topic_is_refused() -> None:
    result = decode(RawMessage(ACCOUNTS.name, 0, 1, ACCOUNT.encode(), dump_event(USAGE_EVENT)), ACCOUNTS)
    assert result == Rejection(
        ErrorKind.WRONG_TOPIC, f"event type usage.recorded.v1 does not belong on topic {ACCOUNTS.name}"
    )


def test_the_key_must_be_the_account() -> None:
    for key in (None, b"acc-other"):
        result = decode(_msg(dump_event(USAGE_EVENT), key=key), USAGE)
        assert isinstance(result, Rejection) and result.kind is ErrorKind.INVALID
        assert "must equal payload.account_id" in result.reason


@given(st.binary(max_size=200))
def test_no_bytes_crash_the_decoder(value: bytes) -> None:
    result = decode(_msg(value), USAGE)
    assert isinstance(result, Rejection) or result.type == "usage.recorded.v1"
