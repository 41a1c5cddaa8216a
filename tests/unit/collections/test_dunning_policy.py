"""The dunning policy: parsing, which steps are due on which day, and the promise-to-pay pause."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from billing.collections.rules.dunning import (
    DEFAULT_POLICY,
    PolicyError,
    Promise,
    StepAction,
    notice_text,
    parse_policy,
    paused_by_promise,
    steps_due,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "collections.md"


def test_default_policy_reminds_calls_suspends_and_closes() -> None:
    policy = parse_policy(DEFAULT_POLICY)
    assert policy.grace_days == 3 and policy.queue == "collections"
    assert [(s.name, s.day, s.action) for s in policy.steps] == [
        ("reminder", 1, StepAction.NOTICE),
        ("second_notice", 7, StepAction.NOTICE),
        ("collections_call", 14, StepAction.TASK),
        ("suspend", 21, StepAction.SUSPEND),
        ("close", 60, StepAction.CLOSE),
    ]


def test_steps_due_are_those_reached_and_not_done_in_order() -> None:
    policy = parse_policy(DEFAULT_POLICY)
    assert steps_due(policy, 0, []) == ()
    assert [s.name for s in steps_due(policy, 1, [])] == ["reminder"]
    assert [s.name for s in steps_due(policy, 21, ["reminder"])] == ["second_notice", "collections_call", "suspend"]
    assert steps_due(policy, 59, [s.name for s in policy.steps[:4]]) == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grace_days": -1}, "grace_days"),
        ({"steps": []}, "steps"),
        ({"steps": [{"name": "a", "day": 2, "action": "task"}, {"name": "b", "day": 1, "action": "task"}]}, "by day"),
        ({"steps": [{"name": "a", "day": 1, "action": "task"}, {"name": "a", "day": 2, "action": "task"}]}, "unique"),
        ({"steps": [{"name": "a", "day": 1, "action": "fax"}]}, "action"),
        ({"steps": [{"name": "a", "day": 1, "action": "notice"}]}, "message"),
        ({"steps": [{"name": "a", "day": 0, "action": "task"}]}, "day"),
        ({"colour": "red"}, "unknown"),
    ],
)
def test_impossible_policies_are_refused_naming_the_field(change, message) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy({**DEFAULT_POLICY, **change})


def test_a_promise_pauses_until_its_date() -> None:
    promise = Promise(date(2027, 5, 10), 3_569, datetime(2027, 5, 1, 9, tzinfo=UTC))
    assert paused_by_promise([promise], datetime(2027, 4, 30, tzinfo=UTC)) is None  # not made yet
    assert paused_by_promise([promise], datetime(2027, 5, 10, 23, tzinfo=UTC)) == promise
    assert paused_by_promise([promise], datetime(2027, 5, 11, tzinfo=UTC)) is None  # broken: dunning resumes


def test_notice_text_fills_in_the_invoice() -> None:
    step = parse_policy(DEFAULT_POLICY).steps[0]
    assert notice_text(step, "INV-2027-000001", "35.69 EUR", 2).startswith("Invoice INV-2027-000001: 35.69 EUR is 2")


def test_the_documented_policy_examples_parse() -> None:
    text = DOCS.read_text(encoding="utf-8")
    yaml_block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    json_block = text.split("```json\n", 1)[1].split("```", 1)[0]
    assert (
        parse_policy(yaml.safe_load(yaml_block)) == parse_policy(json.loads(json_block)) == parse_policy(DEFAULT_POLICY)
    )
