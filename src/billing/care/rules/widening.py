"""Which agent pools may take a task, growing in steps as it waits.

A task first goes only to agents of its own queue, who know that kind of
call best. If nobody there answers in time, waiting longer costs more than a
less specialised answer, so the task is also offered to broader pools, e.g.
billing, after 120 s also tier2, after 300 s also supervisors.

Layout accepted by ``WideningPolicy.from_dict`` (queue name to steps)::

    {
      "billing": [
        {"after_seconds": 120, "add": ["tier2"]},
        {"after_seconds": 300, "add": ["supervisors"]}
      ],
      "supervisors": []
    }

A step applies once ``waited_seconds >= after_seconds`` (at exactly 120 s the
task is already widened). Steps must have strictly ascending ``after_seconds``.
A queue without an entry never widens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from billing.care.rules.config_parsing import CareConfigError, ConfigReader


class WideningConfigError(CareConfigError):
    """The widening policy dict is not valid."""


_READER = ConfigReader(WideningConfigError)


@dataclass(frozen=True)
class WideningStep:
    after_seconds: int
    add_queues: tuple[str, ...]


def _parse_step(raw: Any, where: str) -> WideningStep:
    step = _READER.mapping(raw, where)
    _READER.only_known_keys(step, ("after_seconds", "add"), where)
    added = _READER.items(_READER.field(step, "add", where), f"{where}.add")
    if not added:
        raise _READER.fail(f"{where}.add", "a step must add at least one queue")
    return WideningStep(
        after_seconds=_READER.integer(_READER.field(step, "after_seconds", where), f"{where}.after_seconds", minimum=0),
        add_queues=tuple(_READER.name(name, f"{where}.add[{i}]") for i, name in enumerate(added)),
    )


def _parse_steps(raw: Any, where: str) -> tuple[WideningStep, ...]:
    steps = tuple(_parse_step(item, f"{where}[{i}]") for i, item in enumerate(_READER.items(raw, where)))
    waits = [step.after_seconds for step in steps]
    if waits != sorted(set(waits)):
        raise _READER.fail(where, f"after_seconds must be strictly ascending, got {waits}")
    return steps


@dataclass(frozen=True)
class WideningPolicy:
    steps_by_queue: Mapping[str, tuple[WideningStep, ...]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WideningPolicy:
        root = _READER.mapping(data, "widening")
        steps = {_READER.name(queue, "widening"): _parse_steps(raw, f"widening.{queue}") for queue, raw in root.items()}
        return cls(steps_by_queue=MappingProxyType(steps))

    def steps_for(self, queue: str) -> tuple[WideningStep, ...]:
        return self.steps_by_queue.get(queue, ())


def _effective_wait(waited_seconds: float) -> float:
    # Clock skew can make a fresh task look a little negative-aged; treat it as new.
    return max(0, waited_seconds)


def eligible_queues(queue: str, waited_seconds: float, policy: WideningPolicy) -> tuple[str, ...]:
    """The task's own queue first, then each added pool once, in step order."""
    waited = _effective_wait(waited_seconds)
    eligible = [queue]
    for step in policy.steps_for(queue):
        if waited < step.after_seconds:
            break
        eligible.extend(name for name in step.add_queues if name not in eligible)
    return tuple(eligible)


def seconds_until_next_widening(queue: str, waited_seconds: float, policy: WideningPolicy) -> float | None:
    """How long until the next step applies (for scheduling a re-offer); None
    when the task is already as wide as it will get."""
    waited = _effective_wait(waited_seconds)
    upcoming = [step.after_seconds for step in policy.steps_for(queue) if step.after_seconds > waited]
    return upcoming[0] - waited if upcoming else None


def default_widening_config() -> dict[str, Any]:
    """Production-like defaults; a fresh copy each call."""
    return {
        "billing": [
            {"after_seconds": 120, "add": ["tier2"]},
            {"after_seconds": 300, "add": ["supervisors"]},
        ],
        # Dispute agents are specialists; tier2 billing cannot settle a dispute,
        # so the only wider pool is the one allowed to.
        "disputes": [{"after_seconds": 240, "add": ["supervisors"]}],
        # A churn-risk caller should not wait long; supervisors can also grant saves.
        "retention": [{"after_seconds": 180, "add": ["supervisors"]}],
        "supervisors": [],
    }


def default_widening_policy() -> WideningPolicy:
    return WideningPolicy.from_dict(default_widening_config())
