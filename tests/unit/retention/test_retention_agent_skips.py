"""Which records the retention agents handle without touching the database."""

from datetime import UTC, datetime, timedelta

from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountClosed, AccountPlanChanged, ClosureReason
from billing.platform.decoding import RawMessage
from billing.platform.topics import ACCOUNTS
from billing.retention.consumers import CLOCK_STEP, RetentionConsumer, on_account_event

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def plan_change(at: datetime) -> ev.Event:
    return ev.AccountPlanChangedEvent(
        event_id=f"pc-{at.timestamp()}",
        type="account.plan_changed.v1",
        source="t",
        occurred_at=at,
        schema_version=1,
        payload=AccountPlanChanged(account_id="acc-1", plan_id="mobile-l", effective_at=at),
    )


def closure(at: datetime) -> ev.Event:
    return ev.AccountClosedEvent(
        event_id=f"cl-{at.timestamp()}",
        type="account.closed.v1",
        source="t",
        occurred_at=at,
        schema_version=1,
        payload=AccountClosed(account_id="acc-1", closed_at=at, reason=ClosureReason.VOLUNTARY),
    )


def test_small_clock_steps_are_skipped_but_never_a_closure_or_a_first_event() -> None:
    consumer = RetentionConsumer(ACCOUNTS, on_account_event, ctx=None, event_types=ACCOUNTS.event_types)
    assert consumer.wants(plan_change(T0), on(0))  # nothing written yet on this worker
    consumer.clock_written[0] = T0
    assert not consumer.wants(plan_change(T0 + CLOCK_STEP - timedelta(seconds=1)), on(0))
    assert consumer.wants(plan_change(T0 + CLOCK_STEP), on(0))
    assert consumer.wants(closure(T0 + timedelta(seconds=1)), on(0))  # closures are always recorded
    assert consumer.wants(plan_change(T0), on(1))  # another partition has its own clock


def on(partition: int) -> RawMessage:
    return RawMessage(ACCOUNTS.name, partition, 0, b"acc-1", b"{}")
