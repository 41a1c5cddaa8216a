"""Queue figures of the wall for today and the last hour, summed from the queue metrics' windows (counts add;
rates are recomputed from the sums: SL = answered within T / answered, ASA = answer wait / answered,
abandonment = abandoned / (answered + abandoned))."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def period(queue: dict[str, Any], since: datetime) -> dict[str, Any]:
    answered = abandoned = 0
    within = wait = 0.0
    for window in queue.get("windows", []):
        if datetime.fromisoformat(window["window_end"]) <= since:
            continue
        n = int(window.get("answered", 0))
        answered += n
        abandoned += int(window.get("abandoned", 0))
        wait += float(window.get("total_answer_wait_s", 0))
        sl = (window.get("service_level") or {}).get("value")
        within += float(sl) * n if sl is not None else 0.0
    offered = answered + abandoned
    return {
        "answered": answered,
        "abandoned": abandoned,
        "service_level": within / answered if answered else None,
        "asa_s": wait / answered if answered else None,
        "abandonment": abandoned / offered if offered else None,
    }


def queue_rows(report: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    hour = now - timedelta(hours=1)
    rows = []
    for name, queue in sorted((report.get("queues") or {}).items()):
        t, h = period(queue, today), period(queue, hour)
        rows.append(
            {
                "queue": name,
                "waiting": queue.get("waiting_now"),
                "oldest_wait_s": queue.get("oldest_wait_s"),
                **{f"today_{k}": v for k, v in t.items()},
                **{f"hour_{k}": v for k, v in h.items()},
            }
        )
    return rows


QUEUE_COLUMNS = (
    "queue", "waiting", "oldest_wait_s",
    "today_answered", "today_service_level", "today_asa_s", "today_abandonment",
    "hour_answered", "hour_service_level", "hour_asa_s", "hour_abandonment",
)  # fmt: skip
