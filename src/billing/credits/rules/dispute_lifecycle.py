"""The dispute lifecycle: opened -> routed -> in_review -> credited | rejected.

Pure (no I/O, no clock). A transition is legal only along ``NEXT_STATES``; the two resolved states are
terminal. A dispute may go from opened straight to in_review, because an agent can pick a dispute up from the
account view before the router has queued it; it can never be resolved without having been reviewed.
While a dispute is not resolved its disputed amount is held (not collectable).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class DisputeState(StrEnum):
    OPENED = "opened"
    ROUTED = "routed"
    IN_REVIEW = "in_review"
    CREDITED = "credited"
    REJECTED = "rejected"


NEXT_STATES: Mapping[DisputeState, frozenset[DisputeState]] = {
    DisputeState.OPENED: frozenset({DisputeState.ROUTED, DisputeState.IN_REVIEW}),
    DisputeState.ROUTED: frozenset({DisputeState.IN_REVIEW}),
    DisputeState.IN_REVIEW: frozenset({DisputeState.CREDITED, DisputeState.REJECTED}),
    DisputeState.CREDITED: frozenset(),
    DisputeState.REJECTED: frozenset(),
}
RESOLVED = frozenset({DisputeState.CREDITED, DisputeState.REJECTED})
_ONE_MS = timedelta(milliseconds=1)


class IllegalTransition(ValueError):
    """The dispute is not in a state from which the requested step is allowed."""


def can_move(current: DisputeState, target: DisputeState) -> bool:
    return target in NEXT_STATES[current]


def move(current: DisputeState, target: DisputeState) -> DisputeState:
    if not can_move(current, target):
        allowed = ", ".join(sorted(NEXT_STATES[current])) or "nothing (resolved)"
        raise IllegalTransition(f"a dispute in state {current} cannot become {target}; allowed: {allowed}")
    return target


def path_to(current: DisputeState, target: DisputeState) -> tuple[DisputeState, ...]:
    """The states to pass through, in order, to reach ``target`` (empty when already there).

    Used when one agent action implies earlier steps, e.g. resolving a routed dispute first puts it in review.
    Raises IllegalTransition when ``target`` cannot be reached at all.
    """
    if current == target:
        return ()
    for step in sorted(NEXT_STATES[current], key=_ORDER.index):
        if step == target:
            return (step,)
        try:
            return (step, *path_to(step, target))
        except IllegalTransition:
            continue
    raise IllegalTransition(f"a dispute in state {current} cannot reach {target}")


_ORDER = list(DisputeState)


def is_open(state: DisputeState) -> bool:
    return state not in RESOLVED


def held_minor(state: DisputeState, disputed_minor: int) -> int:
    """Money held back from collection for this dispute: all of it while open, nothing once resolved."""
    return disputed_minor if is_open(state) else 0


@dataclass(frozen=True)
class Timing:
    opened_at: datetime
    resolved_at: datetime

    @property
    def resolve_ms(self) -> int:
        """Time to resolve in whole milliseconds (never negative: clocks of two writers may disagree)."""
        delta = self.resolved_at - self.opened_at
        return max(0, delta // _ONE_MS)
