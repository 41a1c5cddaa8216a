"""Idempotency keys for money-moving agent actions: the pure comparison.

An agent's client sends ``Idempotency-Key`` with a request. The first request under a key is executed and its
response stored with a hash of the request; a retry with the same key and the same body gets that stored
response back unchanged; the same key with a different body is refused (HTTP 409), because silently returning
the first result would tell the agent that their second, different action happened.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def request_hash(action: str, body: Mapping[str, Any]) -> str:
    """Stable hash of an action and its body: key order and whitespace do not matter, values do."""
    canonical = json.dumps({"action": action, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Replay:
    response: Mapping[str, Any]


@dataclass(frozen=True)
class KeyConflict:
    reason: str


@dataclass(frozen=True)
class FirstUse:
    pass


def compare(
    key: str, stored_hash: str | None, stored_response: Mapping[str, Any] | None, new_hash: str
) -> Replay | KeyConflict | FirstUse:
    """What to do with a request under ``key`` given what is stored for it (None: nothing stored yet)."""
    if stored_hash is None:
        return FirstUse()
    if stored_hash != new_hash:
        return KeyConflict(f"idempotency key {key!r} was already used for a different request")
    if stored_response is None:
        # Only possible inside the first request's own transaction; callers hold the row lock, so treat it as
        # a conflict rather than replaying nothing.
        return KeyConflict(f"idempotency key {key!r} is still in use by a request in progress")
    return Replay(stored_response)
