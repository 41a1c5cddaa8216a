"""Agent presence, pure: the four states, which of them may be offered work, and the state a task step leaves.

An agent with no presence yet (an API client that never opened the desk) is not tracked and is offered tasks as
before; a tracked agent is offered tasks only while available. A state left `busy` or `wrap_up` by a hold that
ended without the agent (a lease that ran out, a supervisor's release) counts as available once nothing is held.
"""

from __future__ import annotations

from enum import StrEnum


class PresenceState(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    OFFLINE = "offline"


# What a step on a task leaves the agent in (the task routes call presence.follow with it).
AFTER_STEP: dict[str, PresenceState] = {
    "claimed": PresenceState.BUSY,
    "accepted": PresenceState.BUSY,
    "rejected": PresenceState.AVAILABLE,
    "wrapping": PresenceState.WRAP_UP,
    "completed": PresenceState.AVAILABLE,
}


def effective_state(state: PresenceState | None, holds_tasks: bool) -> PresenceState | None:
    """The state that decides offers: busy or wrap-up with nothing held is available again."""
    if state in (PresenceState.BUSY, PresenceState.WRAP_UP) and not holds_tasks:
        return PresenceState.AVAILABLE
    return state


def may_be_offered(state: PresenceState | None) -> bool:
    """Untracked agents (None) keep the API's behaviour; tracked ones only while available."""
    return state is None or state is PresenceState.AVAILABLE
