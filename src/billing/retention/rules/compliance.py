"""Intention to treat, compliance, and the effect among compliers, from the recorded practice against the arm.

The arm is what was assigned; whether the customer received the treatment is what the agent recorded (a
discount of more than 0 for a withheld practice). The uplift by arm is the intention-to-treat effect: it
answers "what does the policy of offering this practice do", with non-compliance included. With
c = P(treated | treatment arm) - P(treated | control arm) the share of cases the assignment changed, the
complier effect is ITT / c (the Wald, or instrumental-variable, estimator), with a delta-method interval that
includes the covariance of retention and treatment within each arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from billing.retention.rules.stats import Z_95

# The practice a discount grant kind is (billing.discounts GrantKind values): the discount route asks whether it
# is withheld from the task's case.
PRACTICE_OF_GRANT = {
    "percent_next_invoices": "discount_percent",
    "fixed_next_invoice": "discount_fixed",
    "credit_note": "credit",
}


@dataclass(frozen=True)
class ArmCompliance:
    cases: int
    retained: int
    treated: int  # cases that received the practice (discount > 0)
    treated_retained: int


@dataclass(frozen=True)
class ComplianceReport:
    non_compliance_rate: float  # cases whose treatment disagrees with their arm, over all cases
    treatment_arm_treated: float
    control_arm_treated: float
    compliance: float  # the difference: the share of compliers
    complier_effect: float | None  # ITT / compliance; None when compliance is not positive
    complier_ci_low: float | None
    complier_ci_high: float | None


def _moments(arm: ArmCompliance) -> tuple[float, float, float, float, float]:
    n = arm.cases
    y, d, yd = arm.retained / n, arm.treated / n, arm.treated_retained / n
    return y, d, y * (1 - y) / n, d * (1 - d) / n, (yd - y * d) / n


def compliance_report(treatment: ArmCompliance, control: ArmCompliance, z: float = Z_95) -> ComplianceReport | None:
    if treatment.cases == 0 or control.cases == 0:
        return None
    y1, d1, vy1, vd1, c1 = _moments(treatment)
    y0, d0, vy0, vd0, c0 = _moments(control)
    disagreeing = (treatment.cases - treatment.treated) + control.treated
    rate = disagreeing / (treatment.cases + control.cases)
    compliance = d1 - d0
    if compliance <= 0:
        return ComplianceReport(rate, d1, d0, compliance, None, None, None)
    itt = y1 - y0
    effect = itt / compliance
    # Var(ITT / c) by the delta method: (Var ITT - 2 effect Cov(ITT, c) + effect^2 Var c) / c^2.
    variance = ((vy1 + vy0) - 2 * effect * (c1 + c0) + effect**2 * (vd1 + vd0)) / compliance**2
    half = z * math.sqrt(max(0.0, variance))
    return ComplianceReport(rate, d1, d0, compliance, effect, effect - half, effect + half)
