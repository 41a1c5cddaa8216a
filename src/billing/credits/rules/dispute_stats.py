"""How fast disputes are resolved and how much they cost, for the people who run the desk. Pure.

Percentiles use the nearest-rank method on whole milliseconds (no interpolation, no float): the p-th
percentile is the smallest value with at least p % of the values at or below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def nearest_rank(sorted_values: Sequence[int], percent: int) -> int | None:
    if not 1 <= percent <= 100:
        raise ValueError(f"percent must be 1..100, got {percent}")
    if not sorted_values:
        return None
    rank = -(-percent * len(sorted_values) // 100)  # ceil(percent/100 * n) in integers
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class ResolutionSummary:
    resolved: int
    credited: int
    rejected: int
    median_resolve_ms: int | None
    p90_resolve_ms: int | None
    credited_minor: int  # sum of credits, one currency


def summarise(outcomes: Sequence[tuple[str, int, int]]) -> ResolutionSummary:
    """``outcomes``: (credited | rejected, resolve_ms, credit_minor) of each resolved dispute."""
    times = sorted(ms for _outcome, ms, _credit in outcomes)
    credited = sum(1 for outcome, _ms, _credit in outcomes if outcome == "credited")
    return ResolutionSummary(
        resolved=len(outcomes),
        credited=credited,
        rejected=len(outcomes) - credited,
        median_resolve_ms=nearest_rank(times, 50),
        p90_resolve_ms=nearest_rank(times, 90),
        credited_minor=sum(credit for _outcome, _ms, credit in outcomes),
    )
