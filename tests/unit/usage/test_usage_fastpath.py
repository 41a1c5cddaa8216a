"""The fast usage decoder never accepts what the schema refuses, and agrees with it on what it accepts."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.contracts import dump_event, example_events, parse_event
from billing.usage.fast_decode import fast_usage, from_json, one_pass, usage_from_event

CANONICAL = orjson.loads(dump_event(example_events()["usage.recorded.v1"]))

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False),
    st.text(max_size=140),
    st.sampled_from(
        [
            "voice",
            "sms",
            "data",
            "second",
            "byte",
            "message",
            "usage.recorded.v1",
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00+02:00",
            "2026-11-01 10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-11-01T10:00:00",
            "20261101T100000Z",
            "acc 1",
            "-acc",
            "4915112345678",
            "",
        ]
    ),
    st.lists(st.integers(-5, 5), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=2),
)
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
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from(PAYLOAD_KEYS + ENVELOPE_KEYS), ODD_VALUES, st.booleans()), max_size=4
    )
)
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


_ANY = st.characters(blacklist_categories=("Cs",))  # escapes and control characters: the general path's
_PLAIN = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\')  # the one-pass path's
# Around the limits that matter: destination 64 characters, source 128 (characters, not UTF-8 bytes).
TEXT = st.one_of(
    st.text(_ANY, max_size=8), st.text(_PLAIN, min_size=62, max_size=66), st.text(_PLAIN, min_size=126, max_size=130)
)


@settings(max_examples=400)
@given(
    source=TEXT,
    destination=st.one_of(st.none(), TEXT),
    quantity=st.integers(0, 2**54),
    started=st.sampled_from(["2026-11-01T09:57:00Z", "2026-11-01T09:57:00.123456+02:00", "2026-02-30T09:57:00Z"]),
)
def test_the_producers_layout_is_read_in_one_pass_with_the_same_verdict(source, destination, quantity, started) -> None:
    """Records in the layout our producers write are matched by one regular expression; whatever it accepts,
    the general path and pydantic accept identically, and whatever it refuses is left to them."""
    doc = orjson.loads(orjson.dumps(CANONICAL))
    doc["source"], doc["payload"]["quantity"], doc["payload"]["started_at"] = source, quantity, started
    doc["payload"]["destination"] = destination
    raw = orjson.dumps(doc)
    matched = one_pass(raw)
    if matched is not None:
        assert matched == from_json(raw) == _verdict(raw)
    assert fast_usage(raw) == _verdict(raw)


def test_generated_traffic_takes_the_one_pass_path() -> None:
    from datetime import UTC, datetime

    from billing.entrypoints.stack.loadgen import Population, record_of
    from tools.bench.events import UsageGenerator, account_ids

    bench = [
        v
        for _, v in UsageGenerator(
            account_ids(50), datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
        ).stream(300, "t")
    ]
    loadgen = [record_of(e).value for e in Population.of(20).usage(300)]
    for raw in [*bench, *loadgen, orjson.dumps(CANONICAL)]:
        matched = one_pass(raw)
        assert matched is not None, raw
        assert matched == from_json(raw) == _verdict(raw)


def test_a_nul_in_text_is_refused_by_both_paths_with_a_reason() -> None:
    """PostgreSQL cannot store a NUL in text: JSON's \\u0000 is refused at decode, never accepted and failed on."""
    for field in ("source", "destination"):
        doc = orjson.loads(orjson.dumps(CANONICAL))
        (doc if field == "source" else doc["payload"])[field] = "switch\x001"
        raw = orjson.dumps(doc)
        assert b"\\u0000" in raw
        assert fast_usage(raw) is None
        try:
            parse_event(raw)
        except ValidationError as error:
            assert "must not contain a NUL character" in str(error)
        else:
            raise AssertionError(f"a NUL in {field} was accepted")
