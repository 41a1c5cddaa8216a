"""The pre-registered analysis: what is compared, at which horizon, at which error rate, fixed before the cases.

A live report read every day finds effects that are not there unless the rules of the decision are set in
advance. The plan is configuration (the file RETENTION_PLAN names, src/billing/retention/plan_config.py; this
module's defaults when unset), registered in PostgreSQL when the first task of its period is routed, and its
version is printed on every report. A plan is known by its version and a hash of its contents (``key``), so an
edit that forgets to change the version still starts a new period instead of rewriting the rules of a running
one. The experiment's period is the plan with the holdout share (``period_id``): changing either starts a new
period, and the report keeps periods apart. The plan fixes:

* one primary horizon (90 days): only it is tested, starred and ranked; 30 and 60 days are shown, untested;
* the practices compared; those the plan also withholds in the control arm (``family``) are randomised: the
  family over which Holm's step-down correction keeps the chance of any false star below ``alpha`` (a practice
  without enough cases still counts in the family, with no evidence). A practice given in both arms is
  observational only: shown, never tested, starred or ranked;
* the planned number of cases per practice: the live decision spends ``alpha`` along an O'Brien-Fleming-type
  boundary up to it (src/billing/retention/rules/sequential.py), and power is judged against it;
* the minimum arm size below which a row is "too few cases": never starred, never ranked.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

WITHHELD_PRACTICES = ("discount_percent", "discount_fixed")  # the offers the control arm does not get


@dataclass(frozen=True)
class AnalysisPlan:
    version: str = "retention-plan-1"
    primary_horizon_days: int = 90
    practices: tuple[str, ...] = ("credit", "discount_fixed", "discount_percent", "plan_change")
    withheld: tuple[str, ...] = WITHHELD_PRACTICES  # whose control-arm use is non-compliance
    alpha: float = 0.05  # family-wise, two-sided
    correction: str = "holm"
    min_arm_size: int = 30
    holdout_share: float = 0.10
    minimum_effect: float = 0.05  # the smallest uplift worth acting on (5 points): what the plan is powered for
    expected_base_rate: float = 0.70
    power: float = 0.80
    planned_cases: int | None = None  # per practice, both arms; None: enough for ``power`` at ``minimum_effect``

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.holdout_share < 1 or not 0 < self.power < 1:
            raise ValueError("alpha, holdout_share and power must lie strictly between 0 and 1")
        if self.correction != "holm":
            raise ValueError(f"only Holm's correction is implemented, got {self.correction!r}")
        if self.min_arm_size < 1 or self.minimum_effect <= 0:
            raise ValueError("min_arm_size must be at least 1 and minimum_effect positive")

    @property
    def family(self) -> tuple[str, ...]:
        """The practices compared that are withheld in the control arm: the only ones the arms can test."""
        return tuple(p for p in self.practices if p in self.withheld)

    @property
    def cases_per_practice(self) -> int:
        """Planned cases per practice: given, or the size at which the final boundary of the most demanding Holm
        step (alpha / number of practices tested) detects ``minimum_effect`` with probability ``power``."""
        if self.planned_cases is not None:
            return self.planned_cases
        # Imported here: routing and the API load a plan for its version and arms only, and scipy (with
        # statsmodels and pandas behind the boundary rule) would otherwise be loaded by every worker and API
        # process at start-up for a figure only the report asks for.
        from scipy.stats import norm

        from billing.retention.rules.sequential import boundary_z  # one boundary rule for plan and report

        z = boundary_z(self.alpha / max(1, len(self.family)), 1.0) + norm.isf(1 - self.power)
        p = self.expected_base_rate
        unit_variance = p * (1 - p) * (1 / (1 - self.holdout_share) + 1 / self.holdout_share)
        cases: float = unit_variance * (z / self.minimum_effect) ** 2  # scipy's quantiles are untyped floats
        return math.ceil(cases)

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "key": self.key,
            "primary_horizon_days": self.primary_horizon_days,
            "practices": list(self.practices),
            "withheld_practices": list(self.withheld),
            "tested_practices": list(self.family),
            "alpha": self.alpha,
            "correction": "Holm step-down over the withheld (randomised) practices, at the primary horizon",
            "live_decision": "O'Brien-Fleming-type alpha spending (continuous monitoring) up to the planned cases",
            "min_arm_size": self.min_arm_size,
            "holdout_share": self.holdout_share,
            "minimum_effect": self.minimum_effect,
            "power": self.power,
            "planned_cases_per_practice": self.cases_per_practice,
        }

    def contents(self) -> dict[str, Any]:
        """What the plan file sets (the holdout share is the period's, RETENTION_HOLDOUT_SHARE)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "holdout_share"}

    @property
    def key(self) -> str:
        """The version and a hash of the contents: two different plans never share a key."""
        canonical = json.dumps(self.contents(), sort_keys=True, separators=(",", ":"))
        return f"{self.version}#{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


_SEQUENCES = ("practices", "withheld")
_KEYS = frozenset(f.name for f in fields(AnalysisPlan)) - {"holdout_share"}


def plan_from_mapping(data: Mapping[str, Any], holdout_share: float) -> AnalysisPlan:
    """A plan from a parsed plan file (or a registered plan's contents): unknown keys are refused, missing ones
    keep the defaults; ValueError names what is wrong."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ValueError(f"unknown analysis plan keys {unknown}; known: {sorted(_KEYS)}")
    for key in _SEQUENCES:
        given = data.get(key, ())
        if not isinstance(given, list | tuple) or not all(isinstance(item, str) for item in given):
            raise ValueError(f"analysis plan {key} must be a list of practice names")  # "credit" is not a list
    # Any: the file's values are checked by the plan's own constructor (a wrong type is a ValueError below).
    values: dict[str, Any] = {key: tuple(value) if key in _SEQUENCES else value for key, value in data.items()}
    try:
        return AnalysisPlan(**values, holdout_share=holdout_share)
    except TypeError as wrong:
        raise ValueError(f"analysis plan: {wrong}") from None


def period_id(plan: AnalysisPlan, holdout_share_bp: int) -> str:
    """The experiment's period: its plan (version and contents) and its holdout share in basis points."""
    return f"{plan.key}@{holdout_share_bp}bp"


def with_share(plan: AnalysisPlan, holdout_share_bp: int) -> AnalysisPlan:
    return replace(plan, holdout_share=holdout_share_bp / 10_000)


DEFAULT_PLAN = AnalysisPlan()
