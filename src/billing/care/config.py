"""The care configuration the queues run on: routing rules, priority weights, widening steps, senior pools.

Read from the file `CARE_RULES_PATH` names (JSON, or YAML by its .yaml/.yml suffix), or the built-in defaults of
src/billing/care/rules/ when unset. Layout (every section optional; a missing one keeps its defaults)::

    routing:  {queues: [...], rules: [...]}          # src/billing/care/rules/routing_rules.py
    priority: {repeat_call_points: 8, ...}           # src/billing/care/rules/priority.py
    widening: {billing: [{after_seconds: 120, add: [tier2]}], ...}   # src/billing/care/rules/widening.py
    senior_queues: [supervisors, tier2]               # tasks in these pools are tier-2 work

`plan_route` is pure: the queue, rule, tier and priority for a contact, from the account's facts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from billing.care.rules.config_parsing import CareConfigError
from billing.care.rules.priority import PriorityWeights, aging_points, priority
from billing.care.rules.routing_rules import AccountFacts, RoutingRules, default_rules
from billing.care.rules.widening import WideningPolicy, default_widening_policy
from billing.platform.settings import Settings
from billing.retention.plan_config import Experiment, load_experiment

_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_SECTIONS = ("routing", "priority", "widening", "senior_queues")
DEFAULT_SENIOR_QUEUES = frozenset({"supervisors", "tier2"})


@dataclass(frozen=True)
class CareConfig:
    rules: RoutingRules
    weights: PriorityWeights
    widening: WideningPolicy
    senior_queues: frozenset[str] = DEFAULT_SENIOR_QUEUES
    # The retention experiment's period (analysis plan and holdout share) customer contacts are routed into:
    # the account's arm is drawn and recorded at routing. None: routing records no arm (the arm is drawn at
    # completion, as before periods existed).
    experiment: Experiment | None = None

    def __post_init__(self) -> None:
        added = {q for steps in self.widening.steps_by_queue.values() for step in steps for q in step.add_queues}
        bad = sorted(q for q in {*self.rules.queues, *added, *self.senior_queues} if not _QUEUE_NAME.match(q))
        if bad:
            raise CareConfigError(
                f"queue names {bad} are not usable as topic names: lower case letters, digits, '-' and '_'"
            )

    @property
    def queues(self) -> tuple[str, ...]:
        """The routing queues, each with its own topic, in name order."""
        return tuple(sorted(self.rules.queues))

    def tier_of(self, pools: tuple[str, ...] | list[str]) -> int:
        return 2 if any(pool in self.senior_queues for pool in pools) else 1


@dataclass(frozen=True)
class RoutePlan:
    queue: str
    rule: str
    tier: int
    priority: int  # without aging: the task is new


def plan_route(config: CareConfig, facts: AccountFacts, reason: str) -> RoutePlan:
    route = config.rules.route(facts, reason)
    return RoutePlan(
        queue=route.queue,
        rule=route.rule_name,
        tier=config.tier_of([route.queue]),
        priority=priority(route, facts, 0, config.weights),
    )


def aged_priority(config: CareConfig, static_priority: int, waited_seconds: float) -> int:
    """The priority a waiting task has now: what routing gave it plus the aging term."""
    return static_priority + aging_points(config.weights, waited_seconds)


def default_care_config() -> CareConfig:
    return CareConfig(rules=default_rules(), weights=PriorityWeights(), widening=default_widening_policy())


def care_config_from_dict(data: Mapping[str, Any]) -> CareConfig:
    if not isinstance(data, Mapping):
        raise CareConfigError(f"care configuration: expected a mapping, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in _SECTIONS)
    if unknown:
        raise CareConfigError(f"care configuration: unknown section(s) {unknown}; known: {list(_SECTIONS)}")
    defaults = default_care_config()
    senior = data.get("senior_queues", sorted(DEFAULT_SENIOR_QUEUES))
    if not isinstance(senior, list) or not all(isinstance(name, str) for name in senior):
        raise CareConfigError("senior_queues: expected a list of queue names")
    return CareConfig(
        rules=RoutingRules.from_dict(data["routing"]) if "routing" in data else defaults.rules,
        weights=PriorityWeights.from_dict(data["priority"]) if "priority" in data else defaults.weights,
        widening=WideningPolicy.from_dict(data["widening"]) if "widening" in data else defaults.widening,
        senior_queues=frozenset(senior),
    )


def load_care_config(settings: Settings) -> CareConfig:
    """The configured rules (CARE_RULES_PATH) or the defaults, with the retention experiment in force
    (RETENTION_PLAN, RETENTION_HOLDOUT_SHARE); a bad file fails the start with its path."""
    experiment = load_experiment(settings)
    path = settings.care_rules_path
    if path is None:
        return replace(default_care_config(), experiment=experiment)
    try:
        return replace(care_config_from_dict(_read(path)), experiment=experiment)
    except (OSError, ValueError) as error:
        raise CareConfigError(f"{path}: {error}") from error


def _read(path: Path) -> Any:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only needed for YAML files

        return yaml.safe_load(text)
    return json.loads(text)
