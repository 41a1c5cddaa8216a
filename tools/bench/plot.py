"""tools/bench/results.png: the measured rates beside the goals (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tools.bench.report import GOAL_EPS_PER_WORKER, GOAL_INVOICES_PER_S, GOAL_P99_S, PEER_EPS


def _bars(axis, labels: list[str], values: list[float | None], goal: float, goal_label: str, unit: str) -> None:
    shown = [v or 0 for v in values]
    colours = ["#4c72b0"] * len(shown)
    bars = axis.bar(labels, shown, color=colours)
    axis.axhline(goal, color="#c44e52", linestyle="--", label=goal_label)
    for bar, value in zip(bars, values, strict=True):
        text = "n/a" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.3g}")
        axis.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    axis.set_ylabel(unit)
    axis.legend(fontsize=8, loc="best")
    axis.tick_params(axis="x", labelsize=8)


def write_plot(results: Mapping[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (rates, invoices, latency) = pyplot.subplots(
        1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1, 1]}
    )
    _bars(
        rates,
        ["raw consume\n(ceiling)", "rated, 1 worker", "Faust per event", "PostgreSQL peer"],
        [
            results.get("raw_consume_eps"),
            results.get("rated_eps_one_worker"),
            results.get("faust_per_event_eps"),
            PEER_EPS,
        ],
        GOAL_EPS_PER_WORKER,
        f"goal {GOAL_EPS_PER_WORKER:,}/s",
        "events/s",
    )
    _bars(
        invoices,
        ["cycle close"],
        [results.get("invoices_per_s")],
        GOAL_INVOICES_PER_S,
        f"goal {GOAL_INVOICES_PER_S:,}/s",
        "invoices/s",
    )
    _bars(
        latency,
        ["p99 publish\nto persisted"],
        [results.get("p99_publish_to_persisted_s")],
        GOAL_P99_S,
        f"goal < {GOAL_P99_S:g} s",
        "seconds",
    )
    machine = results.get("machine") or {}
    figure.suptitle(
        f"billing benchmark {results.get('date')}: {machine.get('cpu')}, {machine.get('cores')} cores", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
