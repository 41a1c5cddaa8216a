"""The wall's queue figures for today and the last hour from the queue metrics' windows, worked by hand (counts
add, rates are recomputed from the sums), and the desk's money display and typed amounts per currency."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.entrypoints.api.desk.desk_page import _minor
from billing.entrypoints.api.desk.views import money
from billing.entrypoints.api.desk.wall_figures import QUEUE_COLUMNS, period, queue_rows

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def window(end: datetime, answered: int, abandoned: int, wait_s: float, sl: float | None) -> dict:
    return {
        "window_end": end.isoformat(),
        "answered": answered,
        "abandoned": abandoned,
        "total_answer_wait_s": wait_s,
        "service_level": {"value": sl},
    }


QUEUE = {
    "waiting_now": 4,
    "oldest_wait_s": 75.0,
    "windows": [
        window(NOW - timedelta(days=1), 50, 50, 500.0, 0.0),  # yesterday: in neither period
        window(NOW.replace(hour=9), 10, 0, 100.0, 0.5),  # this morning: today only
        window(NOW - timedelta(minutes=30), 30, 10, 90.0, 0.9),  # the last hour: both
    ],
}


def test_today_sums_the_windows_since_midnight() -> None:
    today = period(QUEUE, NOW.replace(hour=0, minute=0))
    assert today["answered"] == 40 and today["abandoned"] == 10
    assert today["service_level"] == pytest.approx((10 * 0.5 + 30 * 0.9) / 40)  # 32 of 40 within T = 0.8
    assert today["asa_s"] == pytest.approx(190.0 / 40)
    assert today["abandonment"] == pytest.approx(10 / 50)


def test_the_last_hour_and_a_queue_nobody_answered() -> None:
    hour = period(QUEUE, NOW - timedelta(hours=1))
    assert (hour["answered"], hour["abandoned"]) == (30, 10)
    assert hour["service_level"] == pytest.approx(0.9) and hour["asa_s"] == pytest.approx(3.0)
    assert hour["abandonment"] == pytest.approx(0.25)
    quiet = period({"windows": [window(NOW, 0, 2, 0.0, None)]}, NOW - timedelta(hours=1))
    assert quiet == {"answered": 0, "abandoned": 2, "service_level": None, "asa_s": None, "abandonment": 1.0}
    assert period({}, NOW)["abandonment"] is None


def test_queue_rows_have_every_column_in_queue_order() -> None:
    rows = queue_rows({"queues": {"supervisors": {"windows": []}, "billing": QUEUE}}, NOW)
    assert [r["queue"] for r in rows] == ["billing", "supervisors"]
    assert set(QUEUE_COLUMNS) <= set(rows[0])  # the CSV's columns; the rows also carry the abandoned counts
    assert (rows[0]["waiting"], rows[0]["today_answered"], rows[0]["hour_answered"]) == (4, 40, 30)
    assert rows[1]["today_service_level"] is None


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [(123456, "EUR", "1,234.56 EUR"), (1234, "JPY", "1,234 JPY"), (-12345, "JOD", "-12.345 JOD"), (5, None, "0.05")],
)
def test_money_in_the_currency_s_own_decimals(minor, currency, shown) -> None:
    assert money(minor, currency) == shown


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12,5", "EUR", 1250),
        ("30", None, 3000),
        ("1500", "JPY", 1500),
        ("1.5", "JPY", None),  # yen has no decimals
        ("1.234", "JOD", 1234),
        ("1.234", "EUR", None),
        ("-3", "EUR", None),
        ("", "EUR", None),
        ("5", "XXQ", None),  # unknown currency: the API refuses the missing amount
    ],
)
def test_typed_amounts_become_minor_units(typed, currency, minor) -> None:
    assert _minor(typed, currency) == minor
