"""Idempotency keys: same key and body replay, a different body is a conflict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.discounts.rules.idempotency import FirstUse, KeyConflict, Replay, compare, request_hash


def test_hash_ignores_key_order_but_not_values_or_action() -> None:
    a = request_hash("grant", {"amount_minor": 500, "kind": "fixed_next_invoice"})
    assert a == request_hash("grant", {"kind": "fixed_next_invoice", "amount_minor": 500})
    assert a != request_hash("grant", {"kind": "fixed_next_invoice", "amount_minor": 501})
    assert a != request_hash("approve", {"kind": "fixed_next_invoice", "amount_minor": 500})


def test_first_use_replay_and_conflict() -> None:
    h = request_hash("grant", {"x": 1})
    assert compare("k1", None, None, h) == FirstUse()
    assert compare("k1", h, {"status": "granted"}, h) == Replay({"status": "granted"})
    conflict = compare("k1", h, {"status": "granted"}, request_hash("grant", {"x": 2}))
    assert isinstance(conflict, KeyConflict) and "different request" in conflict.reason


bodies = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(-5, 5), max_size=3)


@given(bodies, bodies)
def test_replay_exactly_when_bodies_are_equal(first: dict, second: dict) -> None:
    stored = request_hash("grant", first)
    outcome = compare("k", stored, {"ok": True}, request_hash("grant", second))
    assert isinstance(outcome, Replay) == (first == second)
    assert isinstance(outcome, KeyConflict) == (first != second)
