"""Pure helpers of the benchmark report: percentiles, the results document and its shape, the machine."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime

# The keys the issue names; every other key in results.json is detail.
REQUIRED_KEYS: tuple[str, ...] = (
    "raw_consume_eps",
    "rated_eps_one_worker",
    "p99_publish_to_persisted_s",
    "invoices_per_s",
    "worker_peak_rss_mb",
    "machine",
    "date",
)
MACHINE_KEYS: tuple[str, ...] = ("cpu", "cores", "memory_gb", "python", "platform", "postgres", "broker")
BROKER = "Tansu 0.6 (embedded)"

GOAL_EPS_PER_WORKER = 50_000
GOAL_INVOICES_PER_S = 5_000
GOAL_P99_S = 1.0
PEER_EPS = 10_000  # the best published PostgreSQL-backed peer, per the issue


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """Count, mean, min, p50, p90, p99, p99.9 and max of a sample (same unit as the sample)."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "p99_9": percentile(ordered, 99.9),
        "max": ordered[-1],
    }


def rate(count: int, seconds: float | None) -> float | None:
    if seconds is None or seconds <= 0:
        return None
    return count / seconds


def build_results(
    figures: Mapping[str, object], machine: Mapping[str, object], when: datetime, details: Mapping[str, object]
) -> dict[str, object]:
    """The results document: the issue's keys first (a figure not measured is None), then the details."""
    document: dict[str, object] = {key: figures.get(key) for key in REQUIRED_KEYS[:5]}
    document["machine"] = dict(machine)
    document["date"] = when.isoformat(timespec="seconds")
    for key, value in details.items():
        if key in document:
            raise ValueError(f"detail key {key!r} would overwrite a required key")
        document[key] = value
    return document


def validate_results(document: Mapping[str, object]) -> list[str]:
    """What is wrong with a results document (empty when it has the required shape)."""
    problems = [f"missing key {key}" for key in REQUIRED_KEYS if key not in document]
    for key in REQUIRED_KEYS[:5]:
        value = document.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{key} must be a number or null, got {type(value).__name__}")
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{key} must be finite, got {value}")
    machine = document.get("machine")
    if not isinstance(machine, Mapping):
        problems.append("machine must be an object")
    else:
        problems += [f"machine.{key} missing" for key in MACHINE_KEYS if key not in machine]
    when = document.get("date")
    try:
        parsed = datetime.fromisoformat(str(when))
        if parsed.tzinfo is None:
            problems.append("date must carry a time zone")
    except ValueError:
        problems.append(f"date is not ISO 8601: {when!r}")
    return problems


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as handle:
                cpuinfo = handle.read()
        except OSError:
            return platform.processor() or "unknown"
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(postgres_version: str | None, memory_bytes: int | None) -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_bytes / 2**30, 1) if memory_bytes else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres": postgres_version,
        "broker": BROKER,
    }


def markdown_table(results: Mapping[str, object]) -> str:
    """The README's table of figures against the goals, from a results document."""

    def shown(value: object, digits: int = 0) -> str:
        if value is None:
            return "not measured"
        return f"{value:,.{digits}f}" if isinstance(value, int | float) else str(value)

    def verdict(ok: bool | None) -> str:
        return "" if ok is None else ("met" if ok else "missed")

    def at_least(key: str, goal: float) -> bool | None:
        value = results.get(key)
        return None if not isinstance(value, int | float) else value >= goal

    p99 = results.get("p99_publish_to_persisted_s")
    rows = [
        (
            "raw consume + JSON decode, aiokafka getmany (the ceiling)",
            shown(results.get("raw_consume_eps")),
            "events/s",
            "",
            "",
        ),
        (
            "rated and persisted, one worker process",
            shown(results.get("rated_eps_one_worker")),
            "events/s",
            f">= {GOAL_EPS_PER_WORKER:,}",
            verdict(at_least("rated_eps_one_worker", GOAL_EPS_PER_WORKER)),
        ),
        ("Faust agent doing nothing per event", shown(results.get("faust_per_event_eps")), "events/s", "", ""),
        (
            "p99 publish to persisted at 10,000 events/s",
            shown(p99, 3),
            "s",
            f"< {GOAL_P99_S:g}",
            verdict(None if not isinstance(p99, int | float) else p99 < GOAL_P99_S),
        ),
        (
            "cycle close, 100,000 accounts",
            shown(results.get("invoices_per_s")),
            "invoices/s",
            f">= {GOAL_INVOICES_PER_S:,}",
            verdict(at_least("invoices_per_s", GOAL_INVOICES_PER_S)),
        ),
        ("worker peak RSS", shown(results.get("worker_peak_rss_mb"), 1), "MB", "", ""),
    ]
    lines = ["| figure | measured | unit | goal | |", "|---|---:|---|---|---|"]
    lines += [f"| {name} | {value} | {unit} | {goal} | {ok} |" for name, value, unit, goal, ok in rows]
    machine = results.get("machine") or {}
    if isinstance(machine, Mapping):
        lines.append("")
        lines.append(
            f"Measured {results.get('date')} on {machine.get('cpu')}, {machine.get('cores')} cores, "
            f"{machine.get('memory_gb')} GB, Python {machine.get('python')}, PostgreSQL "
            f"{machine.get('postgres')}, {machine.get('broker')}."
        )
    return "\n".join(lines)
