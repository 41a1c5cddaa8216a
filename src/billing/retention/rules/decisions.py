"""Each practice's comparison as report data: the 95 % interval, and at the primary horizon the live decision.

Every row (practice, horizon) with both arms gets the uplift with its 95 % Newcombe interval (clustered by
account) and the matching fixed-sample p-value; those are estimates, never starred. Rows of the primary
horizon for the practices the plan compares and withholds in the control arm get the decision
(src/billing/retention/rules/sequential.py): the sequential p-value, Holm-adjusted over those practices, the decision interval (which excludes 0
exactly when the row is starred), a verdict, and the power and minimum detectable effect for the cases so far.
A row with fewer than the plan's minimum cases in an arm is "too few cases": no evidence, no star, no rank.
A practice compared but not withheld (given in both arms at the agent's choice) is observational only: its
arms differ by who chose it, not by chance, so it gets no test, no star, no rank and no place in Holm's family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billing.retention.rules.intervals import ClusterMoments, Comparison, compare
from billing.retention.rules.plan import AnalysisPlan
from billing.retention.rules.sequential import (
    boundary_z,
    decision_z,
    holm,
    minimum_detectable_effect,
    null_standard_error,
    power,
    sequential_p,
)

TOO_FEW = "too few cases"
NOT_YET = "not yet decidable"
NO_CLEAR_EFFECT = "no clear effect at the planned size"
KEEPS = "keeps more customers"
LOSES = "loses customers"
SECONDARY = "secondary horizon: shown, not tested"
UNPLANNED = "not in the analysis plan: shown, not tested"
# Every practice compared is a treatment withheld in the control arm (randomised) or observational only: given
# in both arms at the agent's choice, so its "uplift" compares like with like, not the practice's effect.
RANDOMISED = "randomised: withheld in the control arm"
OBSERVATIONAL = "observational only: not withheld in the control arm, so the arms do not measure its effect"
OBSERVATIONAL_VERDICT = "observational only: shown, not tested"


@dataclass(frozen=True)
class Arms:
    treated: ClusterMoments
    control: ClusterMoments

    def enough(self, plan: AnalysisPlan) -> bool:
        return min(self.treated.cases, self.control.cases) >= plan.min_arm_size

    def information(self, plan: AnalysisPlan) -> float:
        return (self.treated.cases + self.control.cases) / plan.cases_per_practice


def uplift(arms: Arms) -> tuple[Comparison, dict[str, Any]] | None:
    """The 95 % estimate of a row with both arms (None if an arm is empty)."""
    if not (arms.treated.cases and arms.control.cases):
        return None
    comparison = compare(arms.treated, arms.control)
    low, high = comparison.interval()
    return comparison, {
        "difference": comparison.difference,
        "ci_low": low,
        "ci_high": high,
        "method": "Newcombe hybrid score, clustered by account" + (", Fisher exact" if comparison.fisher_p else ""),
        "p_value": comparison.p_value,
        "fisher_p": comparison.fisher_p,
        "design_effect": {"treatment": comparison.design_effect_1, "control": comparison.design_effect_2},
    }


def decide(plan: AnalysisPlan, primary: Mapping[str, Arms]) -> dict[str, dict[str, Any]]:
    """The decision of every practice in the plan at the primary horizon (absent practices: too few cases);
    practices not withheld are observational only, outside the tested family."""
    evidence: dict[str, tuple[Arms, Comparison, float]] = {}
    for practice in plan.family:
        arms = primary.get(practice)
        if arms is not None and arms.enough(plan):
            comparison = compare(arms.treated, arms.control)
            evidence[practice] = (arms, comparison, sequential_p(comparison.evidence_z, arms.information(plan)))
    raw = [evidence[p][2] if p in evidence else 1.0 for p in plan.family]
    adjusted = dict(zip(plan.family, holm(raw)))
    decisions: dict[str, dict[str, Any]] = {}
    for practice in plan.practices:
        if practice not in plan.family:
            decisions[practice] = {
                "role": "observational",
                "assignment": OBSERVATIONAL,
                "verdict": OBSERVATIONAL_VERDICT,
                "significant": False,
            }
            continue
        arms = primary.get(practice) or Arms(ClusterMoments.independent(0, 0), ClusterMoments.independent(0, 0))
        decisions[practice] = _power(plan, arms) | {
            "role": "primary",
            "assignment": RANDOMISED,
            "verdict": TOO_FEW,
            "significant": False,
            "cases_needed_per_arm": plan.min_arm_size,
        }
        if practice not in evidence:
            continue
        arms, comparison, p_value = evidence[practice]
        information = arms.information(plan)
        p_adjusted = adjusted[practice]
        low, high = comparison.interval_agreeing(decision_z(plan.alpha, p_value, p_adjusted, information))
        significant = p_adjusted < plan.alpha
        verdict = (KEEPS if comparison.difference > 0 else LOSES) if significant else NOT_YET
        if not significant and information >= 1:
            verdict = NO_CLEAR_EFFECT
        decisions[practice] |= {
            "verdict": verdict,
            "significant": significant,
            "p_value_sequential": p_value,
            "p_value_adjusted": p_adjusted,
            "decision_ci_low": low,
            "decision_ci_high": high,
        }
    return decisions


def _power(plan: AnalysisPlan, arms: Arms) -> dict[str, Any]:
    """Power against the plan's minimum effect and the minimum detectable effect, now and at the planned size
    with the current holdout share (the plan's share while an arm is empty)."""
    n_t, n_c = arms.treated.cases, arms.control.cases
    total = n_t + n_c
    information = total / plan.cases_per_practice
    pooled = (arms.treated.retained + arms.control.retained) / total if total else plan.expected_base_rate
    both = compare(arms.treated, arms.control) if n_t and n_c else None
    deff_t, deff_c = (both.design_effect_1, both.design_effect_2) if both else (1.0, 1.0)
    worst_step = plan.alpha / max(1, len(plan.family))  # Holm's most demanding level
    se_now = null_standard_error(pooled, n_t, n_c, deff_t, deff_c)
    z_now = boundary_z(worst_step, information)
    share = n_c / total if n_t and n_c else plan.holdout_share
    planned = plan.cases_per_practice
    se_plan = null_standard_error(pooled, planned * (1 - share), planned * share, deff_t, deff_c)
    z_plan = boundary_z(worst_step, 1.0)
    return {
        "information": information,
        "planned_cases": planned,
        "holdout_share": share,
        "power_now": power(plan.minimum_effect, se_now, z_now),
        "mde_now": minimum_detectable_effect(se_now, z_now, plan.power),
        "power_at_plan": power(plan.minimum_effect, se_plan, z_plan),
        "mde_at_plan": minimum_detectable_effect(se_plan, z_plan, plan.power),
    }
