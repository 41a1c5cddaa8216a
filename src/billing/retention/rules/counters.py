"""Retention outcome counters, mergeable, and the report computed from them.

A stream keeps only counters: per (practice, arm, horizon, wait bucket) how
many cases were followed to the horizon and how many of those customers were
still customers then. Everything in the report (rates, Wilson intervals, the
z-test against the control arm) is a function of these counts, so partial
counters from several workers or days can be merged by adding them.

Wait time is kept as a 5-second histogram (capped at 900 s) rather than in
fixed bands, so the report can be asked for any bands later, as long as their
edges fall on the histogram's 5-second grid.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from billing.retention.rules.arms import Arm
from billing.retention.rules.stats import Z_95, ZTest, two_proportion_z_test, wilson_interval

HORIZONS_DAYS: tuple[int, ...] = (30, 60, 90)
WAIT_RESOLUTION_S = 5
WAIT_CAP_S = 900  # waits at or beyond this share the last bucket


@dataclass(frozen=True, order=True)
class CounterKey:
    practice: str  # the retention practice or offer, e.g. "percent_15_3_invoices"
    arm: Arm
    horizon_days: int
    wait_bucket_s: int  # lower edge of the 5 s wait-time bucket


@dataclass(frozen=True)
class Tally:
    cases: int = 0
    retained: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.cases + other.cases, self.retained + other.retained)


@dataclass(frozen=True)
class RetentionCounters:
    tallies: Mapping[CounterKey, Tally] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        # Read-only view, so a shared instance cannot be changed behind a reader.
        object.__setattr__(self, "tallies", MappingProxyType(dict(self.tallies)))


def wait_bucket_s(wait_seconds: float) -> int:
    if wait_seconds < 0:
        raise ValueError(f"wait_seconds must not be negative, got {wait_seconds}")
    return min(int(wait_seconds // WAIT_RESOLUTION_S) * WAIT_RESOLUTION_S, WAIT_CAP_S)


def add_case_outcome(
    counters: RetentionCounters,
    practice: str,
    arm: Arm | str,
    horizon_days: int,
    retained: bool,
    wait_seconds: float,
) -> RetentionCounters:
    """Counters with one more case whose outcome at ``horizon_days`` is known.

    Call once per horizon as each one elapses (30, 60, then 90 days after the
    case), so a young case is not counted as churned before it could be.
    """
    if horizon_days not in HORIZONS_DAYS:
        raise ValueError(f"horizon_days must be one of {HORIZONS_DAYS}, got {horizon_days}")
    key = CounterKey(practice, Arm(arm), horizon_days, wait_bucket_s(wait_seconds))
    updated = dict(counters.tallies)
    updated[key] = updated.get(key, Tally()) + Tally(1, int(retained))
    return RetentionCounters(updated)


def merge(*parts: RetentionCounters) -> RetentionCounters:
    """Sum of counters: associative and commutative, with empty as identity."""
    merged: dict[CounterKey, Tally] = {}
    for part in parts:
        for key, tally in part.tallies.items():
            merged[key] = merged.get(key, Tally()) + tally
    return RetentionCounters(merged)


@dataclass(frozen=True)
class WaitBands:
    """Report bands given by their upper edges: (20, 60, 180) means
    <20s, 20-60s, 60-180s and >=180s."""

    upper_edges_s: tuple[int, ...]

    def __post_init__(self) -> None:
        edges = self.upper_edges_s
        if list(edges) != sorted(set(edges)) or any(edge <= 0 for edge in edges):
            raise ValueError(f"band edges must be positive and strictly ascending: {edges}")
        off_grid = [e for e in edges if e % WAIT_RESOLUTION_S or e > WAIT_CAP_S]
        if off_grid:
            raise ValueError(
                f"band edges {off_grid} must be multiples of {WAIT_RESOLUTION_S} s "
                f"up to {WAIT_CAP_S} s, the resolution the counters keep"
            )

    @property
    def labels(self) -> tuple[str, ...]:
        edges = self.upper_edges_s
        if not edges:
            return ("all",)
        middle = [f"{low}-{high}s" for low, high in itertools.pairwise(edges)]
        return (f"<{edges[0]}s", *middle, f">={edges[-1]}s")

    def band_index(self, bucket_lower_edge_s: int) -> int:
        return bisect_right(self.upper_edges_s, bucket_lower_edge_s)


DEFAULT_WAIT_BANDS = WaitBands((20, 60, 180))


@dataclass(frozen=True)
class ArmSummary:
    cases: int
    retained: int
    rate: float | None  # None without cases
    ci_low: float  # Wilson interval; (0, 1) without cases
    ci_high: float


@dataclass(frozen=True)
class BandRetention:
    band: str
    treatment: ArmSummary
    control: ArmSummary


@dataclass(frozen=True)
class PracticeReport:
    practice: str
    horizon_days: int
    treatment: ArmSummary
    control: ArmSummary
    uplift: ZTest | None  # treatment minus control; None if an arm is empty
    significant: bool  # two-sided p-value below alpha
    by_wait_band: tuple[BandRetention, ...]


def summarise(tally: Tally, z: float = Z_95) -> ArmSummary:
    rate = tally.retained / tally.cases if tally.cases else None
    low, high = wilson_interval(tally.retained, tally.cases, z)
    return ArmSummary(tally.cases, tally.retained, rate, low, high)


def report(
    counters: RetentionCounters,
    bands: WaitBands = DEFAULT_WAIT_BANDS,
    alpha: float = 0.05,
    z: float = Z_95,
) -> list[PracticeReport]:
    """One row per (practice, horizon), sorted, each comparing the two arms."""
    rows = sorted({(key.practice, key.horizon_days) for key in counters.tallies})
    return [_practice_row(counters, practice, horizon, bands, alpha, z) for practice, horizon in rows]


def _practice_row(
    counters: RetentionCounters,
    practice: str,
    horizon: int,
    bands: WaitBands,
    alpha: float,
    z: float,
) -> PracticeReport:
    by_arm_and_band = _tallies_by_arm_and_band(counters, practice, horizon, bands)
    totals = {arm: sum(by_arm_and_band[arm], Tally()) for arm in Arm}
    treated, control = totals[Arm.TREATMENT], totals[Arm.CONTROL]
    uplift = None
    if treated.cases and control.cases:
        uplift = two_proportion_z_test(treated.retained, treated.cases, control.retained, control.cases, z_crit=z)
    band_rows = tuple(
        BandRetention(
            label,
            summarise(by_arm_and_band[Arm.TREATMENT][index], z),
            summarise(by_arm_and_band[Arm.CONTROL][index], z),
        )
        for index, label in enumerate(bands.labels)
    )
    significant = uplift is not None and uplift.p_value_two_sided < alpha
    return PracticeReport(
        practice=practice,
        horizon_days=horizon,
        treatment=summarise(treated, z),
        control=summarise(control, z),
        uplift=uplift,
        significant=significant,
        by_wait_band=band_rows,
    )


def _tallies_by_arm_and_band(
    counters: RetentionCounters, practice: str, horizon: int, bands: WaitBands
) -> dict[Arm, list[Tally]]:
    band_count = len(bands.labels)
    by_arm = {arm: [Tally()] * band_count for arm in Arm}
    for key, tally in counters.tallies.items():
        if key.practice == practice and key.horizon_days == horizon:
            index = bands.band_index(key.wait_bucket_s)
            by_arm[key.arm][index] = by_arm[key.arm][index] + tally
    return by_arm
