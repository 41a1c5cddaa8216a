"""The cohort of a retention report: parsing its bounds, and the simulator's own period of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.entrypoints.stack.retention_simulation import SimulationConfig, simulate
from billing.retention.queries import Cohort
from billing.retention.report_text import format_report
from billing.retention.rules.counters import RetentionCounters
from billing.retention.rules.report import ReportInputs, build_report


def test_a_date_is_its_midnight_in_utc_and_a_zone_is_kept() -> None:
    cohort = Cohort.parse("2031-01-01", "2031-07-01T12:00:00+02:00")
    assert cohort.cases_from == datetime(2031, 1, 1, tzinfo=UTC)
    assert cohort.cases_to == datetime(2031, 7, 1, 10, tzinfo=UTC)  # 12:00 at +02:00
    assert Cohort.parse(None, "2031-02-01").cases_from is None


@pytest.mark.parametrize(
    "bounds, message",
    [
        (("last tuesday", None), "cases_from must be an ISO date"),
        ((None, "2031-13-01"), "cases_to must be an ISO date"),
        (("2031-02-01", "2031-01-01"), "the cohort is empty"),
        (("2031-01-01", "2031-01-01"), "the cohort is empty"),
    ],
)
def test_bad_bounds_are_refused_with_a_sentence(bounds, message) -> None:
    with pytest.raises(ValueError, match=message):
        Cohort.parse(*bounds)


@given(
    # hypothesis takes naive bounds and adds the zone itself
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),  # noqa: DTZ001
    st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650)),
)
def test_bounds_survive_their_json_form(start: datetime, length: timedelta) -> None:
    cohort = Cohort(start, start + length)
    text = cohort.as_json()
    assert Cohort.parse(text["cases_from"], text["cases_to"]) == cohort


def test_the_simulation_period_holds_exactly_its_cases_in_its_own_era() -> None:
    sim = simulate(SimulationConfig(accounts=300, seed=7))
    first, last = sim.case_period()
    cases = [e.occurred_at for e in sim.events if e.type == "task.completed.v1"]
    assert all(first <= at < last for at in cases) and min(cases) == first
    assert first >= datetime(2031, 1, 1, tzinfo=UTC)  # after every event time of the demo and the tests


def test_the_terminal_report_names_its_cohort() -> None:
    report = build_report(ReportInputs(counters=RetentionCounters({}), money={}, survival=[], service=[]))
    assert format_report({**report, "cohort": None}).startswith("Cohort: every case followed")
    report["cohort"] = Cohort.parse("2031-01-01", None).as_json()
    assert format_report(report).startswith("Cohort: the cases handled from 2031-01-01T00:00:00+00:00 to before now")
