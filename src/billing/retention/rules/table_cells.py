"""Cells of the Faust table `retention-counts`: live counters per practice and arm, one cell per partition.

A Faust table is partitioned like its stream: a cell written while handling partition p is logged to
changelog partition p and lives on the worker owning p. So each cell is keyed ``practice|arm@partition``,
written only by that partition's owner, and the (practice, arm) totals are the sum over partitions (the
counters are mergeable). The table is a live cache: PostgreSQL holds the exact counters, updated in the
transaction of each resolved-horizon marker; the cell is bumped after that commits, so a crash between the
two leaves the cache one short, never double.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

Cell = Mapping[str, list[int]]  # horizon days (as text, JSON keys) -> [cases, retained]


def cell_key(practice: str, arm: str, partition: int) -> str:
    return f"{practice}|{arm}@{partition}"


def split_key(key: str) -> tuple[str, str, int]:
    group, _, partition = key.rpartition("@")
    practice, _, arm = group.partition("|")
    return practice, arm, int(partition)


def bumped(cell: Cell | None, horizon_days: int, retained: bool) -> dict[str, list[int]]:
    """A new cell with one more case at the horizon (the old one is left as it was)."""
    updated = {horizon: list(counts) for horizon, counts in (cell or {}).items()}
    cases, kept = updated.get(str(horizon_days), [0, 0])
    updated[str(horizon_days)] = [cases + 1, kept + int(retained)]
    return updated


def totals(cells: Iterable[tuple[str, Cell]]) -> dict[str, dict[str, dict[str, list[int]]]]:
    """practice -> arm -> horizon -> [cases, retained], summed over the partitions' cells."""
    summed: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(dict))
    for key, cell in cells:
        practice, arm, _ = split_key(key)
        for horizon, (cases, kept) in cell.items():
            before = summed[practice][arm].get(horizon, [0, 0])
            summed[practice][arm][horizon] = [before[0] + cases, before[1] + kept]
    return {practice: dict(arms) for practice, arms in summed.items()}
