"""The analysis plan as configuration (issue 14 point 2): the plan file (YAML or JSON, unknown keys refused,
defaults for what it leaves out), the plan's key (version and a hash of the contents), and the period id."""

import json
from pathlib import Path

import pytest

from billing.platform.settings import Settings
from billing.retention.plan_config import PlanConfigError, load_experiment, load_plan
from billing.retention.rules.plan import DEFAULT_PLAN, AnalysisPlan, period_id, plan_from_mapping, with_share


def _settings(plan: Path | None = None, share: float = 0.10) -> Settings:
    return Settings(retention_plan=plan, retention_holdout_share=share)


def test_unset_is_the_default_plan_with_the_configured_share() -> None:
    plan = load_plan(_settings(share=0.25))
    assert plan == with_share(DEFAULT_PLAN, 2500)
    assert plan.holdout_share == 0.25 and plan.primary_horizon_days == 90 and plan.alpha == 0.05
    assert plan.practices == ("credit", "discount_fixed", "discount_percent", "plan_change")
    assert set(plan.withheld) == {"discount_fixed", "discount_percent"} and plan.min_arm_size == 30


def test_a_yaml_plan_sets_what_it_names_and_keeps_the_defaults_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("version: trial-7\nprimary_horizon_days: 60\npractices: [credit, discount_percent]\n")
    plan = load_plan(_settings(path))
    assert (plan.version, plan.primary_horizon_days, plan.practices) == ("trial-7", 60, ("credit", "discount_percent"))
    assert plan.withheld == DEFAULT_PLAN.withheld and plan.alpha == DEFAULT_PLAN.alpha
    assert plan.min_arm_size == DEFAULT_PLAN.min_arm_size and plan.planned_cases is None
    assert (tmp_path / "plan.yml").write_text(path.read_text()) and load_plan(_settings(tmp_path / "plan.yml")) == plan


def test_a_json_plan_is_the_same_plan_as_its_yaml(tmp_path: Path) -> None:
    contents = {"version": "trial-8", "withheld": ["discount_percent"], "min_arm_size": 50, "planned_cases": 900}
    as_json, as_yaml = tmp_path / "plan.json", tmp_path / "plan.yaml"
    as_json.write_text(json.dumps(contents))
    as_yaml.write_text("version: trial-8\nwithheld: [discount_percent]\nmin_arm_size: 50\nplanned_cases: 900\n")
    plan = load_plan(_settings(as_json))
    assert plan == load_plan(_settings(as_yaml))
    assert (plan.withheld, plan.min_arm_size, plan.cases_per_practice) == (("discount_percent",), 50, 900)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("version: x\nprimary_horizon: 90\n", "primary_horizon"),  # a misspelt key is refused, not ignored
        ("holdout_share: 0.2\n", "holdout_share"),  # the share is RETENTION_HOLDOUT_SHARE's, not the plan's
        ("correction: bonferroni\n", "Holm"),
        ("alpha: 1.5\n", "alpha"),
        ("practices: [credit, 3]\n", "practices"),
        ("- credit\n", "mapping"),
        ("version: [unclosed\n", "plan.yaml"),
    ],
)
def test_a_wrong_plan_file_is_refused_naming_the_file_and_the_problem(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(PlanConfigError, match=r"plan\.yaml") as refused:
        load_plan(_settings(path))
    assert names in str(refused.value)


def test_a_missing_plan_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanConfigError, match=r"missing\.json"):
        load_plan(_settings(tmp_path / "missing.json"))


def test_unknown_keys_are_refused_by_the_mapping_reader_too() -> None:
    with pytest.raises(ValueError, match=r"unknown analysis plan keys \['horizon', 'star'\]"):
        plan_from_mapping({"horizon": 90, "star": True}, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        plan_from_mapping({"alpha": 0}, 0.1)
    with pytest.raises(ValueError, match="list of practice names"):
        plan_from_mapping({"practices": "credit"}, 0.1)  # a name, not a list: not read as its letters


def test_a_registered_plan_reads_back_as_the_same_plan() -> None:
    plan = AnalysisPlan(version="v9", practices=("credit",), withheld=("credit",), planned_cases=123)
    again = plan_from_mapping(json.loads(json.dumps(plan.contents())), plan.holdout_share)
    assert again == plan and again.key == plan.key


def test_a_content_change_without_a_version_change_gets_a_new_key() -> None:
    edited = AnalysisPlan(min_arm_size=31)  # same version as the default, one number changed
    assert edited.version == DEFAULT_PLAN.version
    assert edited.key != DEFAULT_PLAN.key
    assert edited.key.startswith(f"{DEFAULT_PLAN.version}#")
    assert AnalysisPlan(withheld=("discount_percent",)).key != DEFAULT_PLAN.key
    assert AnalysisPlan(practices=("credit",)).key != DEFAULT_PLAN.key


def test_the_key_is_the_contents_not_the_share_nor_the_object() -> None:
    assert AnalysisPlan().key == DEFAULT_PLAN.key  # stable: the same contents, the same key
    assert with_share(DEFAULT_PLAN, 5000).key == DEFAULT_PLAN.key  # the share belongs to the period
    assert AnalysisPlan(version="retention-plan-2").key != DEFAULT_PLAN.key
    digest = DEFAULT_PLAN.key.split("#")[1]
    assert len(digest) == 10 and all(c in "0123456789abcdef" for c in digest)


def test_a_period_is_the_plan_key_and_the_share_in_basis_points() -> None:
    assert period_id(DEFAULT_PLAN, 1000) == f"{DEFAULT_PLAN.key}@1000bp"
    assert period_id(DEFAULT_PLAN, 1000) != period_id(DEFAULT_PLAN, 1500)  # a new share: a new period
    assert period_id(DEFAULT_PLAN, 1000) != period_id(AnalysisPlan(min_arm_size=40), 1000)  # a new plan too


def test_the_experiment_is_the_loaded_plan_and_the_share(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"version": "trial-9"}))
    experiment = load_experiment(_settings(path, share=0.125))
    assert experiment.holdout_share_bp == 1250 and experiment.plan.holdout_share == 0.125
    assert experiment.period == f"{experiment.plan.key}@1250bp" and experiment.period.startswith("trial-9#")
