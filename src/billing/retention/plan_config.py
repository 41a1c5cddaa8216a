"""The analysis plan in force, from configuration: the file RETENTION_PLAN names, with RETENTION_HOLDOUT_SHARE.

Read when asked, never at import. Unset: the default plan of src/billing/retention/rules/plan.py (primary
horizon 90 days, the four offer practices, Holm at 5 %, 30 cases per arm at least, planned cases for 80 % power
at a 5-point effect). The plan and the share together are the experiment's period (``Experiment``): the
routing of a task records it with the arm, so a case is always judged by the rules in force when it was routed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billing.platform.settings import Settings
from billing.retention.rules.plan import DEFAULT_PLAN, AnalysisPlan, period_id, plan_from_mapping, with_share


class PlanConfigError(ValueError):
    """The plan file cannot be read or is not a valid plan (the message names the file and the problem)."""


@dataclass(frozen=True)
class Experiment:
    """The period tasks are routed into now: its plan and holdout share."""

    plan: AnalysisPlan
    holdout_share_bp: int

    @property
    def period(self) -> str:
        return period_id(self.plan, self.holdout_share_bp)


def load_plan(settings: Settings) -> AnalysisPlan:
    share = settings.retention_holdout_share
    path = settings.retention_plan
    if path is None:
        return with_share(DEFAULT_PLAN, round(share * 10_000))
    try:
        return plan_from_mapping(_read(path), share)
    except (OSError, ValueError) as error:
        raise PlanConfigError(f"cannot use the retention analysis plan at {path}: {error}") from error


def load_experiment(settings: Settings) -> Experiment:
    return Experiment(load_plan(settings), round(settings.retention_holdout_share * 10_000))


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only needed for YAML files

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(str(error)) from None
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the plan must be a mapping of keys to values")
    return data
