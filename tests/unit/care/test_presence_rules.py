"""Presence rules by hand: who may be offered a task, a stale busy state, and what each task step leaves."""

import pytest

from billing.care.rules.presence import AFTER_STEP, PresenceState, effective_state, may_be_offered

S = PresenceState


@pytest.mark.parametrize(
    ("state", "offered"),
    [(None, True), (S.AVAILABLE, True), (S.BUSY, False), (S.WRAP_UP, False), (S.OFFLINE, False)],
)
def test_only_available_or_untracked_agents_are_offered_tasks(state, offered) -> None:
    assert may_be_offered(state) is offered


@pytest.mark.parametrize(
    ("state", "holds", "expected"),
    [
        (S.BUSY, False, S.AVAILABLE),  # the lease ran out or a supervisor released the task
        (S.WRAP_UP, False, S.AVAILABLE),
        (S.BUSY, True, S.BUSY),
        (S.WRAP_UP, True, S.WRAP_UP),
        (S.OFFLINE, False, S.OFFLINE),  # offline is the agent's own word, never undone by the queue
        (S.OFFLINE, True, S.OFFLINE),
        (S.AVAILABLE, True, S.AVAILABLE),
        (None, False, None),  # untracked stays untracked
    ],
)
def test_a_busy_state_with_nothing_held_is_available(state, holds, expected) -> None:
    assert effective_state(state, holds) is expected


def test_each_step_leaves_the_agent_in_its_state() -> None:
    assert AFTER_STEP == {
        "claimed": S.BUSY,
        "accepted": S.BUSY,
        "rejected": S.AVAILABLE,
        "wrapping": S.WRAP_UP,
        "completed": S.AVAILABLE,
    }
    # A step never takes an agent offline, and after a step an agent is offered work again only when done.
    assert S.OFFLINE not in AFTER_STEP.values()
    assert [step for step, state in AFTER_STEP.items() if may_be_offered(state)] == ["rejected", "completed"]
