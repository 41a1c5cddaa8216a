"""Pure: what a task that is still waiting becomes after `waited_seconds` (priority with aging, wider pools).

The sweeper applies this to every queued task each round; a task only changes when the answer differs from
its row, and every pool it newly reaches is announced once (task.requeued.v1, cause widened).
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.care.config import CareConfig, aged_priority
from billing.care.rules.widening import eligible_queues


@dataclass(frozen=True)
class WaitingState:
    priority: int
    eligible_queues: tuple[str, ...]
    tier: int


@dataclass(frozen=True)
class WaitingChange:
    new: WaitingState
    added_pools: tuple[str, ...]  # pools the task reaches now and did not before, in widening order


def refresh_waiting(
    config: CareConfig, queue: str, static_priority: int, current: WaitingState, waited_seconds: float
) -> WaitingChange | None:
    """None when nothing changes. Pools are never taken away again: widening only grows."""
    reached = eligible_queues(queue, waited_seconds, config.widening)
    added = tuple(pool for pool in reached if pool not in current.eligible_queues)
    pools = current.eligible_queues + added
    # A tier-2 task stays tier 2; widening into a senior pool makes it tier-2 work.
    tier = max(current.tier, config.tier_of(pools))
    new = WaitingState(aged_priority(config, static_priority, waited_seconds), pools, tier)
    return None if new == current else WaitingChange(new, added)
