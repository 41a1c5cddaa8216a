"""The fast usage decoder never accepts what the schema refuses, and agrees with it on what it accepts."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import dump_event, example_events, parse_event
from streams.usage_fastpath import fast_usage, usage_from_event

CANONICAL = orjson.loads(dump_event(example_events()["usage.recorded.v1"]))

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**62), 2**62), st.floats(allow_nan=False), st.text(max_size=140),
    st.sampled_from(["voice", "sms", "data", "second", "byte", "message", "usage.recorded.v1", "2026-11-01T10:00:00Z",
                     "2026-11-01T10:00:00+02:00", "2026-11-01 10:00:00Z", "2026-13-01T10:00:00Z",
                     "2026-11-01T10:00:00", "20261101T100000Z", "acc 1", "-acc", "4915112345678", ""]),
    st.lists(st.integers(-5, 5), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=2),
)  # fmt: skip
ENVELOPE_KEYS = sorted(CANONICAL)
PAYLOAD_KEYS = [*sorted(CANONICAL["payload"]), "extra"]


def _verdict(value: bytes):
    try:
        return usage_from_event(parse_event(value))
    except ValidationError:
        return None


def test_the_canonical_record_takes_the_fast_path() -> None:
    value = orjson.dumps(CANONICAL)
    assert fast_usage(value) is not None
    assert fast_usage(value) == _verdict(value)


@settings(max_examples=600)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(PAYLOAD_KEYS + ENVELOPE_KEYS), ODD_VALUES, st.booleans()),
                max_size=4))  # fmt: skip
def test_fast_path_accepts_only_what_pydantic_accepts_and_agrees(mutations) -> None:
    doc = orjson.loads(orjson.dumps(CANONICAL))
    for in_payload, key, value, delete in mutations:
        target = doc.get("payload") if in_payload else doc
        if not isinstance(target, dict):
            continue
        if delete:
            target.pop(key, None)
        else:
            target[key] = value
    raw = orjson.dumps(doc)
    fast = fast_usage(raw)
    if fast is not None:
        assert fast == _verdict(raw), "fast path must agree with the schema"


@given(st.binary(max_size=300))
def test_random_bytes_never_pass_the_fast_path_unless_valid(raw: bytes) -> None:
    fast = fast_usage(raw)
    assert fast is None or fast == _verdict(raw)
