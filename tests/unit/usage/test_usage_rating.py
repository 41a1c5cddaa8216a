"""The usage rules: rate under the plan in force, refuse what must not be billed, park the unknown."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from billing.invoicing.rules.catalog import demo_catalog
from billing.usage.rules.rating import AccountView, RatingLimits, rate_batch, rate_one
from billing.usage.rules.usage_record import Usage

CATALOG = demo_catalog()
OPENED = datetime(2026, 6, 10, tzinfo=UTC)
ACCOUNT = AccountView(
    "acc-1", 1, OPENED, None, ((OPENED, "mobile-s"), (datetime(2026, 11, 15, tzinfo=UTC), "mobile-l"))
)
LIMITS = RatingLimits(
    now=datetime(2026, 11, 20, tzinfo=UTC),
    max_future_skew=timedelta(minutes=5),
    close_grace=timedelta(days=1),
    late_limit=timedelta(days=60),
)


def _usage(
    at: datetime, quantity: int = 61, service: str = "voice", unit: str = "second", account: str = "acc-1"
) -> Usage:
    return Usage(f"e-{at:%j%H%M}-{quantity}", account, "r", service, quantity, unit, at, at, "test")


def test_plan_version_and_plan_change_follow_event_time() -> None:
    # mobile-s v1 until 2026-07-01, v2 after; the account moved to mobile-l on 2026-11-15.
    june = RatingLimits(
        datetime(2026, 6, 21, tzinfo=UTC), LIMITS.max_future_skew, LIMITS.close_grace, LIMITS.late_limit
    )
    assert rate_one(_usage(datetime(2026, 6, 20, tzinfo=UTC)), ACCOUNT, CATALOG, june).plan_version == 1
    november = rate_one(_usage(datetime(2026, 11, 3, tzinfo=UTC)), ACCOUNT, CATALOG, LIMITS)
    assert (november.plan_id, november.plan_version, november.cycle_start) == ("mobile-s", 2, date(2026, 11, 1))
    assert rate_one(_usage(datetime(2026, 11, 16, tzinfo=UTC)), ACCOUNT, CATALOG, LIMITS).plan_id == "mobile-l"


def test_increment_rounding_per_record() -> None:
    # voice 60/1: 1 s bills 60, 61 s bills 61; data 1024/1024: 1025 bytes bills 2048.
    at = datetime(2026, 11, 3, tzinfo=UTC)
    assert rate_one(_usage(at, 1), ACCOUNT, CATALOG, LIMITS).billable_units == 60
    assert rate_one(_usage(at, 61), ACCOUNT, CATALOG, LIMITS).billable_units == 61
    assert rate_one(_usage(at, 1025, "data", "byte"), ACCOUNT, CATALOG, LIMITS).billable_units == 2048


def test_refusals_name_their_rule() -> None:
    closed = AccountView("acc-1", 1, OPENED, datetime(2026, 11, 10, tzinfo=UTC), ACCOUNT.plan_periods)
    cases = [
        (_usage(LIMITS.now + timedelta(minutes=6)), ACCOUNT, "in the future"),
        (_usage(OPENED - timedelta(days=1)), ACCOUNT, "precedes the account's opening"),
        (_usage(datetime(2026, 11, 11, tzinfo=UTC)), closed, "follows the account's closing"),
        (_usage(datetime(2026, 11, 3, tzinfo=UTC), 90_000), ACCOUNT, "exceeds the sanity limit"),
        # July's cycle ends 2026-08-01; plus 1 day of grace and 60 days: late after 2026-10-01.
        (_usage(datetime(2026, 7, 20, tzinfo=UTC)), ACCOUNT, "after its late limit"),
    ]
    for usage, account, fragment in cases:
        verdict = rate_one(usage, account, CATALOG, LIMITS)
        assert isinstance(verdict, str) and fragment in verdict, verdict
    assert not isinstance(rate_one(_usage(LIMITS.now + timedelta(minutes=4)), ACCOUNT, CATALOG, LIMITS), str)


def test_unknown_accounts_are_parked_not_refused() -> None:
    usages = [_usage(datetime(2026, 11, 3, tzinfo=UTC)), _usage(datetime(2026, 11, 3, tzinfo=UTC), account="acc-x")]
    outcome = rate_batch(usages, {"acc-1": ACCOUNT}, CATALOG, LIMITS)
    assert [i for i, _ in outcome.rated] == [0] and outcome.parked == [1] and outcome.refused == []
