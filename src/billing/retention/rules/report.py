"""The retention report as plain data (dicts, lists, numbers, strings): one function, ``build_report``.

Everything is computed from counters (src/billing/retention/rules/counters.py, the survival and money counts, and
per arm the account-clustered moments and the compliance counts), so the JSON endpoint, the terminal table and
the HTML report all show the same numbers. Rates and statistics are floats (they are not money); the cost per
retained customer is an exact decimal string of minor units, and beside it formatted in the currency's units.
The statistics follow the pre-registered ``AnalysisPlan`` (src/billing/retention/rules/plan.py); the plan is
part of the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from billing.retention.rules.arms import Arm
from billing.retention.rules.compliance import ArmCompliance, compliance_report
from billing.retention.rules.cost import cost_intervals, costs, treatment_money
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
from billing.retention.rules.decisions import SECONDARY, TOO_FEW, UNPLANNED, Arms, decide, uplift
from billing.retention.rules.intervals import ClusterMoments
from billing.retention.rules.plain import human_name, sentence
from billing.retention.rules.plan import DEFAULT_PLAN, AnalysisPlan
from billing.retention.rules.survival import km_curve, km_steps, log_rank_test

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
    # (practice, arm, horizon) -> the arm's cases grouped by account; absent: every case its own account
    accounts: Mapping[tuple[str, str, int], ClusterMoments] = field(default_factory=dict)
    # (practice, arm, horizon) -> cases, retained, and of them those that received the practice
    compliance: Mapping[tuple[str, str, int], ArmCompliance] = field(default_factory=dict)


WAIT_BANDS_NOTE = (
    "observational: wait is not randomised, and customers who wait less may differ (value, tenure) from those"
    " who wait long, so a difference between bands is an association, not the effect of waiting"
)


def build_report(
    inputs: ReportInputs, bands: WaitBands = DEFAULT_WAIT_BANDS, plan: AnalysisPlan = DEFAULT_PLAN
) -> dict[str, Any]:
    rows = report(inputs.counters, bands, alpha=plan.alpha)
    primary = plan.primary_horizon_days
    decisions = decide(plan, {row.practice: _arms(row, inputs) for row in rows if row.horizon_days == primary})
    practices = [_practice(row, inputs, plan, decisions) for row in rows]
    by_practice = {row["practice"]: row for row in practices if row["horizon_days"] == primary}
    return {
        "analysis_plan": plan.as_json(),
        "horizons_days": list(HORIZONS_DAYS),
        "ranking_horizon_days": primary,
        "summary": _summary(plan, by_practice, decisions),
        "practices": practices,
        "ranking": _ranking(practices, primary),
        "non_compliance": _non_compliance(plan, inputs),
        "survival": _survival(inputs.survival),
        "wait_bands": _wait_bands(inputs.counters, bands, primary),
        "wait_bands_note": WAIT_BANDS_NOTE,
        "service": _service(inputs.service),
        "service_level_variant": f"answered within {SERVICE_LEVEL_THRESHOLD_S} s / answered",
    }


def _arms(row: PracticeReport, inputs: ReportInputs) -> Arms:
    def moments(arm: Arm, summary: ArmSummary) -> ClusterMoments:
        known = inputs.accounts.get((row.practice, arm.value, row.horizon_days))
        if known is not None and (known.cases, known.retained) == (summary.cases, summary.retained):
            return known
        return ClusterMoments.independent(summary.cases, summary.retained)  # no account ids: independent cases

    return Arms(moments(Arm.TREATMENT, row.treatment), moments(Arm.CONTROL, row.control))


def _summary(
    plan: AnalysisPlan, rows: Mapping[str, dict[str, Any]], decisions: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One plain sentence per practice of the plan: decided ones first, then by estimate, too few cases last."""
    empty_arm = {"cases": 0}
    entries = []
    for practice in plan.practices:
        row = rows.get(practice) or {"practice": practice, "treatment": empty_arm, "control": empty_arm}
        decision = decisions[practice]
        entries.append(
            {
                "practice": practice,
                "name": human_name(practice),
                "verdict": decision["verdict"],
                "sentence": sentence(row, decision, plan.primary_horizon_days),
            }
        )
    order = {
        p: i for i, p in enumerate(r["practice"] for r in _ranking(list(rows.values()), plan.primary_horizon_days))
    }
    entries.sort(key=lambda e: (e["practice"] not in order, order.get(e["practice"], 0), e["practice"]))
    return entries


def _arm(summary: ArmSummary) -> dict[str, Any]:
    return {
        "cases": summary.cases,
        "retained": summary.retained,
        "rate": summary.rate,
        "ci_low": summary.ci_low,
        "ci_high": summary.ci_high,
    }


def _practice(
    row: PracticeReport, inputs: ReportInputs, plan: AnalysisPlan, decisions: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    estimate = uplift(_arms(row, inputs))
    described = None if estimate is None else estimate[1]
    if described is not None and row.uplift is not None:
        described["z"] = row.uplift.z  # the pooled two-proportion z statistic, for reference
    if row.horizon_days != plan.primary_horizon_days:
        decision: dict[str, Any] = {"role": "secondary", "verdict": SECONDARY, "significant": False}
    elif row.practice not in plan.practices:
        decision = {"role": "unplanned", "verdict": UNPLANNED, "significant": False}
    else:
        decision = decisions[row.practice]
    return {
        "practice": row.practice,
        "name": human_name(row.practice),
        "horizon_days": row.horizon_days,
        "treatment": _arm(row.treatment),
        "control": _arm(row.control),
        "uplift": described,
        "decision": decision,
        "significant": decision["significant"],
        "discount_minor": treatment_money(row, inputs.money),
        "cost_per_retained_minor": costs(row, inputs.money),
        "cost_per_retained": cost_intervals(row, inputs.money, described),
        "compliance": _compliance(row, inputs, plan),
        "by_wait_band": [
            {"band": band.band, "treatment": _arm(band.treatment), "control": _arm(band.control)}
            for band in row.by_wait_band
        ],
    }


def _compliance(row: PracticeReport, inputs: ReportInputs, plan: AnalysisPlan) -> dict[str, Any] | None:
    """Intention to treat (the uplift by arm), compliance and the complier effect, for withheld practices."""
    if row.practice not in plan.withheld:
        return None
    arms = [inputs.compliance.get((row.practice, arm.value, row.horizon_days)) for arm in (Arm.TREATMENT, Arm.CONTROL)]
    if arms[0] is None or arms[1] is None:
        return None
    found = compliance_report(arms[0], arms[1])
    return None if found is None else dict(found.__dict__)


def _non_compliance(plan: AnalysisPlan, inputs: ReportInputs) -> dict[str, Any]:
    """Cases handled against their arm, over every withheld practice at the primary horizon."""
    cases = against = 0
    for (practice, arm, horizon), counts in inputs.compliance.items():
        if practice in plan.withheld and horizon == plan.primary_horizon_days:
            cases += counts.cases
            against += counts.treated if arm == Arm.CONTROL.value else counts.cases - counts.treated
    return {"cases": cases, "against_the_arm": against, "rate": against / cases if cases else None}


def _ranking(practices: Sequence[dict[str, Any]], horizon: int) -> list[dict[str, Any]]:
    """Rows of the primary horizon with enough cases in both arms, by estimated uplift (too few: never ranked)."""
    ranked = [
        row
        for row in practices
        if row["horizon_days"] == horizon
        and row["uplift"] is not None
        and row["decision"]["role"] == "primary"
        and row["decision"]["verdict"] != TOO_FEW
    ]
    ranked.sort(key=lambda row: row["uplift"]["difference"], reverse=True)
    return [
        {
            "practice": row["practice"],
            "uplift": row["uplift"]["difference"],
            "significant": row["significant"],
            "verdict": row["decision"]["verdict"],
        }
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
                {"day": p.time, "survival": p.survival, "ci_low": p.ci_low, "ci_high": p.ci_high, "at_risk": s.at_risk}
                for p, s in zip(km_curve(events), km_steps(events))
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
