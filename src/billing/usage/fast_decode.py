"""A fast, conservative decoder for canonical usage records; pydantic stays the authority.

Measured on this machine: pydantic validates a usage envelope in about 26 µs, orjson parses it in about 3 µs.
At tens of thousands of events per second per process that difference is the budget. This decoder accepts
only the plain canonical form (exact keys, ISO timestamps with an explicit zone, ids matching the schema's
patterns) and returns None for anything else, which then goes through `billing.contracts.parse_event` for a verdict and
a proper error message. It never accepts what the schema would refuse: tests/unit/usage/test_usage_fastpath.py
checks that against pydantic with generated and mutated records.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson

from billing.contracts.base import JSON_SAFE_MAX, UNSTORABLE
from billing.usage.rules.usage_record import Usage

_MSISDN = re.compile(r"[0-9]{5,15}")
_UNIT_OF = {"voice": "second", "sms": "message", "data": "byte"}
_ENVELOPE_KEYS = frozenset({"event_id", "type", "source", "occurred_at", "schema_version", "payload"})
_REQUIRED = frozenset({"account_id", "record_id", "service", "quantity", "unit", "started_at"})
_ALLOWED = _REQUIRED | {"msisdn", "destination"}


# The layout this system's own producers write (schema field order, no spaces; msisdn and destination absent,
# null or set), matched in one pass over the text. Strings that may hold any text (source, destination) are
# taken only without escapes and checked for length below; anything else goes the orjson way. Matched on the
# decoded text rather than the bytes: one UTF-8 decode of the whole record is cheaper than one per field.
# re.ASCII: without it \d would accept any Unicode digit.
_TS = r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2}))"
_IDS = r"([A-Za-z0-9][A-Za-z0-9._:-]{0,127})"
_PLAIN = r'([^"\\\x00-\x1f]+)'
PRODUCER_LAYOUT = re.compile(
    r'\{"event_id":"'
    + _IDS
    + r'","type":"usage\.recorded\.v1","source":"'
    + _PLAIN
    + r'","occurred_at":"'
    + _TS
    + r'","schema_version":1,"payload":\{"account_id":"'
    + _IDS
    + r'","record_id":"'
    + _IDS
    + r'","service":"(voice|sms|data)","quantity":(0|[1-9][0-9]{0,15}),"unit":"(second|message|byte)","started_at":"'
    + _TS
    + r'"(?:,"msisdn":(?:null|"[0-9]{5,15}"))?(?:,"destination":(?:null|"'
    + _PLAIN
    + r'"))?\}\}',
    re.ASCII,
)
_ID = re.compile(_IDS)  # the same patterns for the general path, one field at a time
_TIMESTAMP = re.compile(_TS, re.ASCII)
_parse_time = datetime.fromisoformat


def fast_usage(value: bytes) -> Usage | None:
    usage = one_pass(value)
    return usage if usage is not None else from_json(value)


def one_pass(value: bytes) -> Usage | None:
    """The producers' layout, or None (then the general path decides)."""
    try:
        match = PRODUCER_LAYOUT.fullmatch(value.decode())
    except UnicodeDecodeError:
        return None
    if match is None:
        return None
    event_id, source, occurred, account_id, record_id, service, quantity, unit, started, destination = match.groups()
    count = int(quantity)
    if len(source) > 128 or (destination is not None and len(destination) > 64) or count > JSON_SAFE_MAX:
        return None
    if _UNIT_OF[service] != unit:
        return None
    try:
        occurred_at, started_at = _parse_time(occurred).astimezone(UTC), _parse_time(started).astimezone(UTC)
    except ValueError:  # a date such as month 13: the general path words the verdict
        return None
    return Usage(event_id, account_id, record_id, service, count, unit, started_at, occurred_at, source)


def from_json(value: bytes) -> Usage | None:
    """The general fast path: any key order and spacing, escapes in strings."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or doc.keys() != _ENVELOPE_KEYS:
        return None
    payload = doc["payload"]
    if not (_envelope_ok(doc) and type(payload) is dict and _payload_ok(payload)):
        return None
    occurred_at, started_at = _timestamp(doc["occurred_at"]), _timestamp(payload["started_at"])
    if occurred_at is None or started_at is None:
        return None
    return Usage(
        doc["event_id"],
        payload["account_id"],
        payload["record_id"],
        payload["service"],
        payload["quantity"],
        payload["unit"],
        started_at,
        occurred_at,
        doc["source"],
    )


def _envelope_ok(doc: dict) -> bool:
    source = doc["source"]
    return (
        doc["type"] == "usage.recorded.v1"
        and type(doc["schema_version"]) is int
        and doc["schema_version"] == 1
        and _is_id(doc["event_id"])
        and type(source) is str
        and 1 <= len(source) <= 128
        and UNSTORABLE.search(source) is None  # a "\u0000" escape: the model refuses it
    )


def _payload_ok(payload: dict) -> bool:
    keys = payload.keys()
    if not (_REQUIRED <= keys <= _ALLOWED):
        return False
    quantity, service = payload["quantity"], payload["service"]
    return (
        _is_id(payload["account_id"])
        and _is_id(payload["record_id"])
        and type(service) is str
        and _UNIT_OF.get(service) == payload["unit"]
        and type(quantity) is int
        and 0 <= quantity <= JSON_SAFE_MAX
        and _optional_ok(payload)
    )


def _optional_ok(payload: dict) -> bool:
    msisdn = payload.get("msisdn")
    destination = payload.get("destination")
    return (msisdn is None or (type(msisdn) is str and _MSISDN.fullmatch(msisdn) is not None)) and (
        destination is None
        or (type(destination) is str and 1 <= len(destination) <= 64 and UNSTORABLE.search(destination) is None)
    )


def _is_id(value: object) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _timestamp(value: object) -> datetime | None:
    if type(value) is not str or _TIMESTAMP.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:  # e.g. month 13: let pydantic word the error
        return None


def usage_from_event(event) -> Usage:
    """The same shape from a pydantic-validated event (the slow path)."""
    p = event.payload
    return Usage(
        event.event_id,
        p.account_id,
        p.record_id,
        str(p.service),
        p.quantity,
        str(p.unit),
        p.started_at,
        event.occurred_at,
        event.source,
    )
