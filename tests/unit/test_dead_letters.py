"""Contract tests for the dead letter: the refused record kept byte for byte, or an excerpt that points at the whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from billing.contracts import (
    DeadLetter,
    DeadLetterErrorKind,
    explain,
)

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
