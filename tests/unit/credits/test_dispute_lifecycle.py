"""The dispute lifecycle and the credit cap: hand cases and hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.credits.rules.credit import InvoiceCredit, after_credit, check_credit
from billing.credits.rules.dispute_lifecycle import (
    NEXT_STATES,
    DisputeState,
    IllegalTransition,
    Timing,
    held_minor,
    is_open,
    move,
    path_to,
)

S = DisputeState


def test_the_happy_path_is_legal_and_resolved_states_are_terminal() -> None:
    state = S.OPENED
    for step in (S.ROUTED, S.IN_REVIEW, S.CREDITED):
        state = move(state, step)
    assert state is S.CREDITED
    with pytest.raises(IllegalTransition, match="cannot become rejected"):
        move(state, S.REJECTED)


def test_a_dispute_cannot_be_resolved_without_review() -> None:
    with pytest.raises(IllegalTransition, match="allowed: in_review, routed"):
        move(S.OPENED, S.CREDITED)
    with pytest.raises(IllegalTransition):
        move(S.ROUTED, S.REJECTED)


def test_path_to_lists_the_implied_steps() -> None:
    assert path_to(S.ROUTED, S.CREDITED) == (S.IN_REVIEW, S.CREDITED)
    assert path_to(S.OPENED, S.REJECTED) == (S.ROUTED, S.IN_REVIEW, S.REJECTED)
    assert path_to(S.IN_REVIEW, S.IN_REVIEW) == ()
    with pytest.raises(IllegalTransition):
        path_to(S.REJECTED, S.CREDITED)


def test_held_amount_and_time_to_resolve() -> None:
    assert held_minor(S.IN_REVIEW, 1250) == 1250
    assert held_minor(S.CREDITED, 1250) == 0
    opened = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    # 2 h 30 min 0.5 s = 9,000,500 ms
    assert Timing(opened, opened + timedelta(hours=2, minutes=30, milliseconds=500)).resolve_ms == 9_000_500
    assert Timing(opened, opened - timedelta(seconds=1)).resolve_ms == 0


def test_credit_cap_hand_case() -> None:
    # Invoice total 4,760; a first dispute credited 1,000 -> 3,760 remain.
    invoice = InvoiceCredit("inv-1", "EUR", 4_760, 1_000)
    assert invoice.remaining_minor == 3_760
    assert check_credit(invoice, 3_760, "EUR") is None
    refusal = check_credit(invoice, 3_761, "EUR")
    assert refusal is not None and refusal.rule == "creditable_remaining"
    assert check_credit(invoice, 500, "EUR", disputed_minor=400).rule == "disputed_amount"
    assert check_credit(invoice, 500, "JPY").rule == "credit_currency"


@given(st.lists(st.sampled_from(list(S)), max_size=8))
def test_random_walks_never_leave_a_resolved_state(targets: list[DisputeState]) -> None:
    state = S.OPENED
    for target in targets:
        try:
            new = move(state, target)
        except IllegalTransition:
            assert target not in NEXT_STATES[state]
            continue
        assert is_open(state), "only open disputes may move"
        state = new
    if not is_open(state):
        assert held_minor(state, 999) == 0


@given(
    total=st.integers(0, 1_000_000),
    asks=st.lists(st.tuples(st.integers(1, 400_000), st.integers(1, 400_000)), max_size=12),
)
def test_credits_never_exceed_the_invoice_whatever_is_asked(total: int, asks: list[tuple[int, int]]) -> None:
    invoice = InvoiceCredit("inv", "EUR", total, 0)
    granted = 0
    for disputed, asked in asks:
        if check_credit(invoice, asked, "EUR", disputed_minor=disputed) is None:
            assert asked <= disputed
            invoice = after_credit(invoice, asked)
            granted += asked
        assert invoice.credited_minor == granted <= total
        assert invoice.remaining_minor == total - granted
