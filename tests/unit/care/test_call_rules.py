"""The life of a customer contact: each phase once, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.care.rules.call_rules import CallRuleViolation, CallState, abandon, answer, end

T0 = datetime(2026, 11, 3, 9, tzinfo=UTC)
STARTED = CallState(call_id="c1", account_id="a1", started_at=T0)


def test_answered_then_ended() -> None:
    answered = answer(STARTED, T0 + timedelta(seconds=40), "agent-1")
    ended = end(answered, T0 + timedelta(minutes=8), "resolved")
    assert (ended.agent_id, ended.answered_at, ended.outcome) == ("agent-1", T0 + timedelta(seconds=40), "resolved")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([lambda s: answer(None, T0, "a")], "cannot be answered before it started"),
        ([lambda s: abandon(s, T0), lambda s: answer(s, T0, "a")], "was abandoned and cannot be answered"),
        ([lambda s: answer(s, T0, "a"), lambda s: abandon(s, T0)], "was answered and cannot be abandoned"),
        ([lambda s: answer(s, T0, "a"), lambda s: answer(s, T0, "b")], "was already answered"),
        ([lambda s: end(s, T0, "resolved"), lambda s: end(s, T0, "resolved")], "already ended"),
    ],
)
def test_out_of_order_phases_are_refused(steps, message) -> None:
    state = STARTED
    with pytest.raises(CallRuleViolation, match=message):
        for step in steps:
            state = step(state)
