"""The number agent queues order tasks by (higher first, then older first).

``priority = base + customer value + tenure + cancellation intent
+ repeat calls + open disputes + disputed amount + aging``, and why each term
exists:

* base: the routing rule's judgement of the call type. It matters across
  queues because widening lets one pool (e.g. supervisors) see tasks that
  were routed to different queues.
* customer value: losing a high-spending account costs more revenue, so its
  wait costs more; banded by average invoice so small changes in a bill do
  not reshuffle the queue. No invoice history earns nothing.
* tenure: long-standing customers have shown loyalty and are the ones who
  leave when they feel ignored; banded by days.
* cancellation intent: the strongest churn signal we have; a wait here is
  most likely to turn into a lost customer.
* repeat calls: calling again about the same invoice means the previous
  contact failed; every further call raises frustration and churn risk.
  Points per call, capped so one term cannot swamp all others.
* open disputes: an unresolved dispute is money the customer believes we owe
  them; points per dispute, capped like repeat calls.
* disputed amount: a larger sum in dispute means more revenue at risk and a
  more upset customer; banded.
* aging: +1 per ``aging_step_seconds`` waited so nobody starves behind a
  stream of higher-value calls. It is capped so aging cannot override every
  business signal forever; by the time the cap is reached widening (see
  ``widening.py``) has offered the task to broader pools.

Bands are ``(threshold, points)`` pairs with ascending thresholds; a value
earns the points of the highest threshold it reaches. Amounts are minor units
of the account's currency, so weights are written for one currency exponent
(the defaults assume 2, i.e. cents).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from billing.care.rules.config_parsing import CareConfigError, ConfigReader
from billing.care.rules.routing_rules import AccountFacts, Route

Bands = tuple[tuple[int, int], ...]


class PriorityConfigError(CareConfigError):
    """The priority weights dict is not valid."""


_READER = ConfigReader(PriorityConfigError)


def _check_bands(bands: Bands, where: str) -> None:
    thresholds = [threshold for threshold, _points in bands]
    points = [value for _threshold, value in bands]
    if any(value < 0 for value in thresholds + points):
        raise _READER.fail(where, "thresholds and points must not be negative")
    if thresholds != sorted(set(thresholds)):
        raise _READER.fail(where, f"thresholds must be strictly ascending, got {thresholds}")
    # Otherwise a bigger bill or dispute would lower priority, which nobody means.
    if points != sorted(points):
        raise _READER.fail(where, f"points must not decrease as thresholds rise, got {points}")


@dataclass(frozen=True)
class PriorityWeights:
    customer_value_bands: Bands = ((5_000, 5), (10_000, 10), (25_000, 20))
    tenure_bands: Bands = ((365, 3), (3 * 365, 6), (5 * 365, 10))
    cancellation_intent_points: int = 25
    repeat_call_points: int = 8
    repeat_call_cap: int = 24
    open_dispute_points: int = 6
    open_dispute_cap: int = 18
    disputed_amount_bands: Bands = ((2_000, 4), (10_000, 8), (50_000, 15))
    aging_step_seconds: int = 15
    aging_cap: int = 40  # reached after 40 * 15 s = 10 minutes
    # Collections calls only (collections_priority): the money overdue and how long the oldest has been.
    overdue_amount_bands: Bands = ((5_000, 5), (20_000, 10), (50_000, 20))
    days_overdue_bands: Bands = ((14, 5), (30, 10), (60, 20))

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name.endswith("_bands"):
                _check_bands(value, spec.name)
            elif value < 0:
                raise _READER.fail(spec.name, f"must not be negative, got {value}")
        if self.aging_step_seconds < 1:
            raise _READER.fail("aging_step_seconds", "must be at least 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriorityWeights:
        """Weights from a dict; missing keys keep their defaults.

        Bands are lists of ``{"at_least": threshold, "points": n}``.
        """
        root = _READER.mapping(data, "priority")
        known = {spec.name: spec for spec in fields(cls)}
        _READER.only_known_keys(root, known, "priority")
        # Each value's type follows its key (bands or an integer), which one dict type cannot say; the keys are
        # the fields' names (checked above) and __post_init__ checks every value again.
        parsed: dict[str, Any] = {
            key: _parse_bands(value, key) if key.endswith("_bands") else _READER.integer(value, key)
            for key, value in root.items()
        }
        return cls(**parsed)


def _parse_band(raw: Any, where: str) -> tuple[int, int]:
    band = _READER.mapping(raw, where)
    _READER.only_known_keys(band, ("at_least", "points"), where)
    return (
        _READER.integer(_READER.field(band, "at_least", where), f"{where}.at_least"),
        _READER.integer(_READER.field(band, "points", where), f"{where}.points"),
    )


def _parse_bands(raw: Any, where: str) -> Bands:
    return tuple(_parse_band(item, f"{where}[{index}]") for index, item in enumerate(_READER.items(raw, where)))


def band_points(bands: Bands, value: int | None) -> int:
    """Points of the highest band whose threshold ``value`` reaches; 0 below all."""
    if value is None:
        return 0
    reached = [points for threshold, points in bands if value >= threshold]
    return reached[-1] if reached else 0


def aging_points(weights: PriorityWeights, waited_seconds: float) -> int:
    # A small negative wait comes from clock skew between the enqueuing and the
    # ranking host; it must neither crash ranking nor take points away.
    steps = int(max(0, waited_seconds) // weights.aging_step_seconds)
    return min(weights.aging_cap, steps)


# Each term takes (weights, route, facts, waited_seconds) so the table below can
# treat them alike; most ignore some arguments.
Term = Callable[[PriorityWeights, Route, AccountFacts, float], int]


def _base(_w: PriorityWeights, route: Route, _f: AccountFacts, _waited: float) -> int:
    return route.base_priority


def _customer_value(w: PriorityWeights, _r: Route, facts: AccountFacts, _waited: float) -> int:
    return band_points(w.customer_value_bands, facts.average_invoice_minor)


def _tenure(w: PriorityWeights, _r: Route, facts: AccountFacts, _waited: float) -> int:
    return band_points(w.tenure_bands, facts.tenure_days)


def _cancellation(w: PriorityWeights, _r: Route, facts: AccountFacts, _waited: float) -> int:
    return w.cancellation_intent_points if facts.cancellation_intent else 0


def _repeat_calls(w: PriorityWeights, _r: Route, facts: AccountFacts, _waited: float) -> int:
    return min(w.repeat_call_cap, w.repeat_call_points * facts.repeat_calls_same_invoice_30d)


def _open_disputes(w: PriorityWeights, _r: Route, facts: AccountFacts, _waited: float) -> int:
    return min(w.open_dispute_cap, w.open_dispute_points * facts.open_disputes)


def _disputed_amount(w: PriorityWeights, _r: Route, facts: AccountFacts, _waited: float) -> int:
    return band_points(w.disputed_amount_bands, facts.disputed_amount_minor)


def _aging(w: PriorityWeights, _r: Route, _f: AccountFacts, waited: float) -> int:
    return aging_points(w, waited)


# Order here is the order the agent UI and audit log show the terms in.
_TERMS: tuple[tuple[str, Term], ...] = (
    ("base", _base),
    ("customer_value", _customer_value),
    ("tenure", _tenure),
    ("cancellation_intent", _cancellation),
    ("repeat_calls", _repeat_calls),
    ("open_disputes", _open_disputes),
    ("disputed_amount", _disputed_amount),
    ("aging", _aging),
)

DEFAULT_WEIGHTS = PriorityWeights()


def explain_priority(
    route: Route,
    facts: AccountFacts,
    waited_seconds: float,
    weights: PriorityWeights = DEFAULT_WEIGHTS,
) -> list[tuple[str, int]]:
    """Every term with its points (zeros included, so the shape is stable);
    they sum to ``priority(...)``."""
    return [(name, term(weights, route, facts, waited_seconds)) for name, term in _TERMS]


def priority(
    route: Route,
    facts: AccountFacts,
    waited_seconds: float,
    weights: PriorityWeights = DEFAULT_WEIGHTS,
) -> int:
    return sum(points for _name, points in explain_priority(route, facts, waited_seconds, weights))


@dataclass(frozen=True)
class Overdue:
    """What collections knows of the account when it asks for a call: its overdue open amount (minor units) and
    the days overdue of its oldest overdue invoice."""

    amount_minor: int
    days: int


def explain_collections_priority(
    route: Route,
    facts: AccountFacts,
    overdue: Overdue,
    waited_seconds: float,
    weights: PriorityWeights = DEFAULT_WEIGHTS,
) -> list[tuple[str, int]]:
    """A collections call's terms: every term of a call, then the overdue amount and age.

    These two apply to collections calls only: a customer calling about a bill must not be served sooner for
    owing money, but of the customers the collections desk should call, the larger and older debts come first.
    """
    return [
        *explain_priority(route, facts, waited_seconds, weights),
        ("overdue_amount", band_points(weights.overdue_amount_bands, overdue.amount_minor)),
        ("days_overdue", band_points(weights.days_overdue_bands, overdue.days)),
    ]


def collections_priority(
    route: Route,
    facts: AccountFacts,
    overdue: Overdue,
    waited_seconds: float,
    weights: PriorityWeights = DEFAULT_WEIGHTS,
) -> int:
    return sum(points for _name, points in explain_collections_priority(route, facts, overdue, waited_seconds, weights))
