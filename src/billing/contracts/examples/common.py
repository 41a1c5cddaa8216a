"""What the example events share: one account's ids and fixed times, so dumps in docs and snapshots never churn."""

from __future__ import annotations

from datetime import UTC, datetime

ACCOUNT = "acc-100042"
INVOICE = "inv-2026-11-100042"
CALL = "call-7f3a9c"
TASK = "tsk-4c1d2e9a0b7f3a9c5d21"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def envelope(n: int, source: str, day: int, hour: int) -> dict[str, object]:
    # Fixed ids and times so dumps in docs and snapshots never churn.
    return {
        "event_id": f"evt-000{n:02d}",
        "source": source,
        "occurred_at": at(day, hour),
        "schema_version": 1,
    }
