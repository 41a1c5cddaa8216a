"""The care configuration file and plan_route, with priorities worked out by hand from the default rules."""

from __future__ import annotations

import json

import pytest

from billing.care.config import care_config_from_dict, default_care_config, load_care_config, plan_route
from billing.care.rules.config_parsing import CareConfigError
from billing.care.rules.routing_rules import AccountFacts
from billing.platform.settings import load_settings


def _facts(**changes: object) -> AccountFacts:
    values = dict(
        account_id="acc-1",
        average_invoice_minor=None,
        tenure_days=0,
        open_disputes=0,
        disputed_amount_minor=0,
        repeat_calls_same_invoice_30d=0,
        cancellation_intent=False,
    )
    values.update(changes)
    return AccountFacts(**values)  # type: ignore[arg-type]


def test_a_bill_question_from_a_loyal_mid_value_customer() -> None:
    plan = plan_route(default_care_config(), _facts(average_invoice_minor=6_000, tenure_days=400), "bill_question")
    # Rule "default" (billing, base 10) + value band 5,000 -> 5 + tenure band 365 -> 3 = 18.
    assert (plan.queue, plan.rule, plan.tier, plan.priority) == ("billing", "default", 1, 18)


def test_a_cancellation_call_goes_to_retention_with_the_intent_points() -> None:
    plan = plan_route(
        default_care_config(),
        _facts(cancellation_intent=True, open_disputes=1, disputed_amount_minor=2_500),
        "cancellation_intent",
    )
    # Rule "cancellation_call" base 50 + intent 25 + 1 open dispute 6 + disputed band 2,000 -> 4 = 85.
    assert (plan.queue, plan.rule, plan.priority) == ("retention", "cancellation_call", 85)


def test_supervisor_work_is_tier_two() -> None:
    plan = plan_route(default_care_config(), _facts(repeat_calls_same_invoice_30d=3), "bill_question")
    # Rule "third_call_same_bill" base 60 + 3 repeat calls * 8 = 24 (at the cap 24) = 84.
    assert (plan.queue, plan.tier, plan.priority) == ("supervisors", 2, 84)


def test_a_file_overrides_sections_and_keeps_the_rest(tmp_path) -> None:
    path = tmp_path / "care.json"
    path.write_text(
        json.dumps(
            {
                "routing": {
                    "queues": ["front", "supervisors"],
                    "rules": [{"name": "all", "queue": "front", "base_priority": 7}],
                },
                "priority": {"tenure_bands": []},
            }
        )
    )
    care = load_care_config(load_settings(care_rules_path=path))
    assert care.queues == ("front", "supervisors")
    assert plan_route(care, _facts(tenure_days=4000), "other").priority == 7
    assert care.widening == default_care_config().widening


@pytest.mark.parametrize(
    "data, message",
    [
        ({"routng": {}}, "unknown section"),
        (
            {"routing": {"queues": ["Big Queue"], "rules": [{"name": "d", "queue": "Big Queue", "base_priority": 1}]}},
            "not usable as topic names",
        ),
        ({"senior_queues": "supervisors"}, "senior_queues"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(data, message) -> None:
    with pytest.raises(CareConfigError, match=message):
        care_config_from_dict(data)


def test_a_missing_file_names_its_path(tmp_path) -> None:
    with pytest.raises(CareConfigError, match=r"nope\.yaml"):
        load_care_config(load_settings(care_rules_path=tmp_path / "nope.yaml"))
