"""Which agent queue a care call or dispute lands in, from a rule list kept as
configuration.

Layout accepted by ``RoutingRules.from_dict`` (e.g. loaded from YAML/JSON)::

    {
      "queues": ["billing", "disputes", "retention", "supervisors"],
      "rules": [
        {"name": "third_call_same_bill",
         "when": {"min_repeat_calls": 2},
         "queue": "supervisors", "base_priority": 60},
        {"name": "dispute",
         "when": {"reason_in": ["dispute"]},
         "queue": "disputes", "base_priority": 30},
        {"name": "default", "queue": "billing", "base_priority": 10}
      ]
    }

Rules are tried in order and the first whose conditions all hold wins. Within
one rule the conditions are combined with AND; an OR is written as two rules.
The last rule must have no ``when``: every call has to land somewhere, and a
catch-all anywhere else would silently shadow the rules after it, so both are
configuration errors rather than runtime surprises.

Conditions (all optional):
  reason_in                   list of call reasons (see CALL_REASONS)
  cancellation_intent         true/false, compared with the account flag
  min_average_invoice_minor   accounts without invoice history never match
  min_tenure_days, min_open_disputes, min_disputed_amount_minor,
  min_repeat_calls            (earlier calls about the same invoice in 30 days, this one not counted)

Amounts are minor units of the account's currency, so a rule set is written
for one currency exponent; ``default_rules`` assumes 2 (cents).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from billing.care.rules.config_parsing import CareConfigError, ConfigReader
from billing.care.rules.routing_defaults import default_rules_config

# Mirrors billing.contracts.calls.CallReason as plain strings, so this core stays free of pydantic.
CALL_REASONS: frozenset[str] = frozenset({"bill_question", "dispute", "plan_change", "cancellation_intent", "other"})


class RoutingConfigError(CareConfigError):
    """The routing configuration dict is not a valid rule set."""


@dataclass(frozen=True)
class AccountFacts:
    """What routing and priority may know about the caller's account."""

    account_id: str
    average_invoice_minor: int | None  # None: no invoice yet, so no value signal
    tenure_days: int
    open_disputes: int
    disputed_amount_minor: int
    repeat_calls_same_invoice_30d: int
    cancellation_intent: bool

    def __post_init__(self) -> None:
        counts = {
            "tenure_days": self.tenure_days,
            "open_disputes": self.open_disputes,
            "disputed_amount_minor": self.disputed_amount_minor,
            "repeat_calls_same_invoice_30d": self.repeat_calls_same_invoice_30d,
        }
        negative = sorted(name for name, value in counts.items() if value < 0)
        if negative:
            raise ValueError(f"account {self.account_id}: negative {', '.join(negative)}")


@dataclass(frozen=True)
class Route:
    queue: str
    base_priority: int
    rule_name: str  # kept for the agent UI and audit: why the call went there


Condition = Callable[[AccountFacts, str], bool]
_READER = ConfigReader(RoutingConfigError)


@dataclass(frozen=True)
class RoutingRule:
    name: str
    queue: str
    base_priority: int
    when: tuple[tuple[str, Any], ...] = ()  # the configured conditions, for display
    checks: tuple[Condition, ...] = field(default=(), compare=False, repr=False)

    def matches(self, facts: AccountFacts, reason: str) -> bool:
        return all(check(facts, reason) for check in self.checks)


def _reason_in(raw: Any, where: str) -> tuple[Any, Condition]:
    reasons = _READER.items(raw, where)
    unknown = sorted(str(reason) for reason in reasons if reason not in CALL_REASONS)
    if not reasons or unknown:
        raise _READER.fail(where, f"expected call reasons from {sorted(CALL_REASONS)}, got {reasons!r}")
    wanted = frozenset(reasons)
    return tuple(sorted(wanted)), lambda _facts, reason: reason in wanted


def _cancellation_flag(raw: Any, where: str) -> tuple[Any, Condition]:
    wanted = _READER.flag(raw, where)
    return wanted, lambda facts, _reason: facts.cancellation_intent is wanted


ConditionBuilder = Callable[[Any, str], tuple[Any, Condition]]


def _at_least(read: Callable[[AccountFacts], int | None]) -> ConditionBuilder:
    def build(raw: Any, where: str) -> tuple[Any, Condition]:
        minimum = _READER.integer(raw, where, minimum=0)

        def check(facts: AccountFacts, _reason: str) -> bool:
            value = read(facts)
            return value is not None and value >= minimum

        return minimum, check

    return build


_CONDITION_BUILDERS: Mapping[str, ConditionBuilder] = {
    "reason_in": _reason_in,
    "cancellation_intent": _cancellation_flag,
    "min_average_invoice_minor": _at_least(lambda facts: facts.average_invoice_minor),
    "min_tenure_days": _at_least(lambda facts: facts.tenure_days),
    "min_open_disputes": _at_least(lambda facts: facts.open_disputes),
    "min_disputed_amount_minor": _at_least(lambda facts: facts.disputed_amount_minor),
    "min_repeat_calls": _at_least(lambda facts: facts.repeat_calls_same_invoice_30d),
}
_RULE_KEYS = ("name", "when", "queue", "base_priority")


def _parse_when(raw: Any, where: str) -> tuple[tuple[tuple[str, Any], ...], tuple[Condition, ...]]:
    when = _READER.mapping(raw, where)
    _READER.only_known_keys(when, _CONDITION_BUILDERS, where)
    if not when:
        raise _READER.fail(where, "is empty; leave 'when' out only on the last (default) rule")
    built = [(key, _CONDITION_BUILDERS[key](value, f"{where}.{key}")) for key, value in when.items()]
    return (
        tuple((key, shown) for key, (shown, _check) in built),
        tuple(check for _key, (_shown, check) in built),
    )


def _parse_rule(raw: Any, where: str, queues: frozenset[str]) -> RoutingRule:
    rule = _READER.mapping(raw, where)
    _READER.only_known_keys(rule, _RULE_KEYS, where)
    queue = _READER.name(_READER.field(rule, "queue", where), f"{where}.queue")
    if queue not in queues:
        raise _READER.fail(f"{where}.queue", f"{queue!r} is not one of the queues {sorted(queues)}")
    when: tuple[tuple[str, Any], ...] = ()
    checks: tuple[Condition, ...] = ()
    if "when" in rule:
        when, checks = _parse_when(rule["when"], f"{where}.when")
    return RoutingRule(
        name=_READER.name(_READER.field(rule, "name", where), f"{where}.name"),
        queue=queue,
        base_priority=_READER.integer(_READER.field(rule, "base_priority", where), f"{where}.base_priority"),
        when=when,
        checks=checks,
    )


def _check_rule_order(rules: tuple[RoutingRule, ...]) -> None:
    if not rules:
        raise RoutingConfigError("rules: at least the default rule is required")
    if rules[-1].when:
        raise RoutingConfigError(
            f"rules[{len(rules) - 1}] ({rules[-1].name!r}): the last rule must be the "
            "default, without 'when', so that every call lands in a queue"
        )
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RoutingConfigError(f"rules: duplicate rule names {duplicates}; audit needs unique ones")
    # A condition-less rule earlier in the list would make every later rule dead.
    for index, rule in enumerate(rules[:-1]):
        if not rule.when:
            raise RoutingConfigError(f"rules[{index}] ({rule.name!r}): only the last rule may omit 'when'")


def _parse_queues(raw: Any) -> frozenset[str]:
    names = [_READER.name(name, f"queues[{i}]") for i, name in enumerate(_READER.items(raw, "queues"))]
    if not names:
        raise RoutingConfigError("queues: at least one queue is required")
    return frozenset(names)


@dataclass(frozen=True)
class RoutingRules:
    queues: frozenset[str]
    rules: tuple[RoutingRule, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingRules:
        """Validated rule set from the layout in the module docstring."""
        root = _READER.mapping(data, "routing")
        _READER.only_known_keys(root, ("queues", "rules"), "routing")
        queues = _parse_queues(_READER.field(root, "queues", "routing"))
        raw_rules = _READER.items(_READER.field(root, "rules", "routing"), "rules")
        rules = tuple(_parse_rule(raw, f"rules[{i}]", queues) for i, raw in enumerate(raw_rules))
        _check_rule_order(rules)
        return cls(queues=queues, rules=rules)

    def route(self, facts: AccountFacts, reason: str) -> Route:
        if reason not in CALL_REASONS:
            raise ValueError(f"unknown call reason {reason!r}; expected one of {sorted(CALL_REASONS)}")
        # The last rule has no checks, so this always finds one.
        rule = next(rule for rule in self.rules if rule.matches(facts, reason))
        return Route(queue=rule.queue, base_priority=rule.base_priority, rule_name=rule.name)


def route(rules: RoutingRules, facts: AccountFacts, reason: str) -> Route:
    """Function form of ``RoutingRules.route`` for callers that pass rules around."""
    return rules.route(facts, reason)


def default_rules() -> RoutingRules:
    """The production-like rule set of ``routing_defaults``, validated."""
    return RoutingRules.from_dict(default_rules_config())
