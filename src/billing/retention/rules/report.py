"""The retention report as plain data (dicts, lists, numbers, strings): one function, ``build_report``.

Everything is computed from counters (src/billing/retention/rules/counters.py and the survival and money counts), so
the JSON endpoint, the terminal table and the HTML report all show the same numbers. Rates and statistics
are floats (they are not money); the cost per retained customer is an exact decimal string of minor units.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping, Sequence

from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import (
    DEFAULT_WAIT_BANDS,
    HORIZONS_DAYS,
    ArmSummary,
    CounterKey,
    PracticeReport,
    RetentionCounters,
    Tally,
    WaitBands,
    report,
)
from billing.retention.rules.stats import cost_per_retained
from billing.retention.rules.survival import km_curve, log_rank_test

SERVICE_LEVEL_THRESHOLD_S = 60


@dataclass(frozen=True)
class ServiceWeek:
    week: date
    offered: int
    answered: int
    answered_within: int  # answered within SERVICE_LEVEL_THRESHOLD_S
    abandoned: int


@dataclass(frozen=True)
class ReportInputs:
    counters: RetentionCounters
    money: Mapping[tuple[str, str, int, str], int] = field(default_factory=dict)  # (practice, arm, horizon, ccy)
    survival: Sequence[tuple[str, str, int, int, int]] = ()  # (practice, arm, day, churned, censored)
    service: Sequence[ServiceWeek] = ()


def build_report(inputs: ReportInputs, bands: WaitBands = DEFAULT_WAIT_BANDS) -> dict[str, Any]:
    rows = report(inputs.counters, bands)
    longest = max((row.horizon_days for row in rows), default=HORIZONS_DAYS[-1])
    return {
        "horizons_days": list(HORIZONS_DAYS),
        "ranking_horizon_days": longest,
        "practices": [_practice(row, inputs.money) for row in rows],
        "ranking": _ranking(rows, longest),
        "survival": _survival(inputs.survival),
        "wait_bands": _wait_bands(inputs.counters, bands, longest),
        "service": _service(inputs.service),
        "service_level_variant": f"answered within {SERVICE_LEVEL_THRESHOLD_S} s / answered",
    }


def _arm(summary: ArmSummary) -> dict[str, Any]:
    return {
        "cases": summary.cases,
        "retained": summary.retained,
        "rate": summary.rate,
        "ci_low": summary.ci_low,
        "ci_high": summary.ci_high,
    }


def _practice(row: PracticeReport, money: Mapping[tuple[str, str, int, str], int]) -> dict[str, Any]:
    uplift = None
    if row.uplift is not None:
        u = row.uplift
        uplift = {
            "difference": u.difference,
            "ci_low": u.ci_low,
            "ci_high": u.ci_high,
            "z": u.z,
            "p_value": u.p_value_two_sided,
        }
    return {
        "practice": row.practice,
        "horizon_days": row.horizon_days,
        "treatment": _arm(row.treatment),
        "control": _arm(row.control),
        "uplift": uplift,
        "significant": row.significant,
        "discount_minor": _treatment_money(row, money),
        "cost_per_retained_minor": _costs(row, money),
        "by_wait_band": [
            {"band": band.band, "treatment": _arm(band.treatment), "control": _arm(band.control)}
            for band in row.by_wait_band
        ],
    }


def _treatment_money(row: PracticeReport, money: Mapping[tuple[str, str, int, str], int]) -> dict[str, int]:
    return {
        currency: amount
        for (practice, arm, horizon, currency), amount in sorted(money.items())
        if (practice, arm, horizon) == (row.practice, Arm.TREATMENT.value, row.horizon_days)
    }


def _costs(row: PracticeReport, money: Mapping[tuple[str, str, int, str], int]) -> dict[str, str | None]:
    """Per currency: discount money / customers retained beyond what the control rate predicts."""
    if not (row.treatment.cases and row.control.cases):
        return {}
    costs: dict[str, str | None] = {}
    for currency, amount in _treatment_money(row, money).items():
        cost = cost_per_retained(
            amount, row.treatment.cases, row.treatment.retained, row.control.cases, row.control.retained
        )
        costs[currency] = None if cost is None else str(cost.quantize(1))
    return costs


def _ranking(rows: Sequence[PracticeReport], horizon: int) -> list[dict[str, Any]]:
    ranked = [row for row in rows if row.horizon_days == horizon and row.uplift is not None]
    ranked.sort(key=lambda row: row.uplift.difference, reverse=True)  # type: ignore[union-attr]
    return [
        {"practice": row.practice, "uplift": row.uplift.difference, "significant": row.significant}  # type: ignore[union-attr]
        for row in ranked
    ]


def _survival(rows: Sequence[tuple[str, str, int, int, int]]) -> dict[str, Any]:
    by_group: dict[str, dict[str, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    for practice, arm, day, churned, censored in rows:
        if arm in (Arm.TREATMENT.value, Arm.CONTROL.value):
            by_group[practice][arm].append((day, churned, censored))
    curves: dict[str, Any] = {}
    for practice, arms in sorted(by_group.items()):
        entry: dict[str, Any] = {
            arm: [
                {"day": p.time, "survival": p.survival, "ci_low": p.ci_low, "ci_high": p.ci_high}
                for p in km_curve(events)
            ]
            for arm, events in sorted(arms.items())
        }
        if len(arms) == 2:
            entry["log_rank_p"] = log_rank_test(arms[Arm.TREATMENT.value], arms[Arm.CONTROL.value]).p_value
        curves[practice] = entry
    return curves


def _wait_bands(counters: RetentionCounters, bands: WaitBands, horizon: int) -> list[dict[str, Any]]:
    """Retention by wait-time band over every case of both arms: does waiting cost customers?"""
    pooled: dict[CounterKey, Tally] = {}
    for key, tally in counters.tallies.items():
        slot = CounterKey("all", Arm.TREATMENT, key.horizon_days, key.wait_bucket_s)
        pooled[slot] = pooled.get(slot, Tally()) + tally
    rows = [row for row in report(RetentionCounters(pooled), bands) if row.horizon_days == horizon]
    if not rows:
        return []
    return [{"band": band.band, **_arm(band.treatment)} for band in rows[0].by_wait_band]


def _service(weeks: Sequence[ServiceWeek]) -> list[dict[str, Any]]:
    return [
        {
            "week": week.week.isoformat(),
            "offered": week.offered,
            "answered": week.answered,
            "abandoned": week.abandoned,
            "service_level": week.answered_within / week.answered if week.answered else None,
            "abandonment_rate": week.abandoned / week.offered if week.offered else None,
        }
        for week in sorted(weeks, key=lambda w: w.week)
    ]
