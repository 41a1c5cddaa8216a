"""`billing report retention --html FILE`: one self-contained HTML page with the plots inline (PNG, base64).

Plots: Kaplan-Meier retention curves with 95 % bands per practice (treatment and control), uplift against the
control arm with 95 % intervals, retention by wait-time band, and weekly service level and abandonment. The
page background is a light beige and every plot is on white, so a screenshot test can find the plots.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from billing.retention.report_text import format_report  # noqa: E402

PAGE_BACKGROUND = "#f3efe6"
_ARM_STYLE = {"treatment": ("tab:blue", "-"), "control": ("tab:orange", "--")}


def _png(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, facecolor="white")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def survival_figure(report: dict[str, Any]) -> plt.Figure:
    practices = sorted(report["survival"])
    columns = 3
    rows = max(1, math.ceil(len(practices) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(10, 3.2 * rows), squeeze=False, sharey=True)
    for ax, practice in zip(axes.flat, practices):
        curves = report["survival"][practice]
        for arm, (colour, style) in _ARM_STYLE.items():
            points = curves.get(arm)
            if not points:
                continue
            days = [0] + [p["day"] for p in points]
            ax.step(
                days,
                [1.0] + [p["survival"] for p in points],
                where="post",
                color=colour,
                linestyle=style,
                linewidth=2,
                label=arm,
            )
            ax.fill_between(
                days,
                [1.0] + [p["ci_low"] for p in points],
                [1.0] + [p["ci_high"] for p in points],
                step="post",
                color=colour,
                alpha=0.2,
            )
        p_value = curves.get("log_rank_p")
        ax.set_title(practice + (f"  (log-rank p={p_value:.2g})" if p_value is not None else ""), fontsize=9)
        ax.set_xlabel("days after the case")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(practices) :]:
        ax.axis("off")
    axes[0][0].set_ylabel("still a customer")
    if practices:
        axes[0][0].legend(fontsize=8)
    figure.suptitle("Retention after a handled case (Kaplan-Meier, 95 % bands)")
    figure.tight_layout()
    return figure


def uplift_figure(report: dict[str, Any]) -> plt.Figure:
    horizon = report["ranking_horizon_days"]
    rows = [r for r in report["practices"] if r["horizon_days"] == horizon and r["uplift"] is not None]
    rows.sort(key=lambda r: r["uplift"]["difference"])
    figure, ax = plt.subplots(figsize=(10, 3.6))
    for y, row in enumerate(rows):
        u = row["uplift"]
        colour = "tab:green" if u["ci_low"] > 0 else "tab:red" if u["ci_high"] < 0 else "tab:gray"
        ax.errorbar(
            100 * u["difference"],
            y,
            xerr=[[100 * (u["difference"] - u["ci_low"])], [100 * (u["ci_high"] - u["difference"])]],
            fmt="o",
            color=colour,
            capsize=5,
            markersize=8,
            linewidth=2,
        )
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), [r["practice"] for r in rows])
    ax.set_xlabel(f"uplift in {horizon}-day retention vs the control arm (percentage points, 95 % interval)")
    ax.set_title("Uplift per practice")
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def wait_figure(report: dict[str, Any]) -> plt.Figure:
    bands = [b for b in report["wait_bands"] if b["cases"]]
    figure, ax = plt.subplots(figsize=(10, 3.6))
    xs = range(len(bands))
    rates = [100 * b["rate"] for b in bands]
    ax.bar(xs, rates, color="tab:purple", alpha=0.8)
    ax.errorbar(
        xs,
        rates,
        yerr=[
            [r - 100 * b["ci_low"] for r, b in zip(rates, bands)],
            [100 * b["ci_high"] - r for r, b in zip(rates, bands)],
        ],
        fmt="none",
        color="black",
        capsize=6,
    )
    ax.set_xticks(list(xs), [f"{b['band']} (n={b['cases']})" for b in bands])
    ax.set_ylabel(f"{report['ranking_horizon_days']}-day retention (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Retention by wait for an agent")
    figure.tight_layout()
    return figure


def service_figure(report: dict[str, Any]) -> plt.Figure:
    weeks = report["service"]
    figure, ax = plt.subplots(figsize=(10, 3.6))
    labels = [w["week"] for w in weeks]
    level = [100 * w["service_level"] if w["service_level"] is not None else math.nan for w in weeks]
    abandon = [100 * w["abandonment_rate"] if w["abandonment_rate"] is not None else math.nan for w in weeks]
    ax.plot(range(len(weeks)), level, color="tab:blue", linewidth=2, marker="o", label="service level")
    ax.plot(range(len(weeks)), abandon, color="tab:red", linewidth=2, marker="s", label="abandonment")
    step = max(1, len(labels) // 10)
    ax.set_xticks(list(range(0, len(labels), step)), labels[::step], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of calls")
    ax.set_title(f"Service level ({report['service_level_variant']}) and abandonment per week")
    ax.legend()
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


FIGURES = (
    ("Retention curves", survival_figure),
    ("Uplift", uplift_figure),
    ("Wait time and retention", wait_figure),
    ("Service level and abandonment", service_figure),
)


def render_html(report: dict[str, Any]) -> str:
    sections = [
        f'<h2>{html.escape(title)}</h2>\n<img class="plot" alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{_png(draw(report))}">'
        for title, draw in FIGURES
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Retention report</title>
<style>
body {{ background: {PAGE_BACKGROUND}; font-family: sans-serif; margin: 24px; color: #222; }}
img.plot {{ display: block; width: 1000px; margin: 8px 0 24px 0; }}
pre {{ font-size: 10px; background: {PAGE_BACKGROUND}; overflow-x: auto; }}
</style></head>
<body>
<h1>Retention report</h1>
<p>Which practices keep customers, measured against a randomised control arm (a deterministic hash of the
account holds out a share of eligible cases, to whom no offer is suggested). Intervals are 95 %.</p>
{"".join(sections)}
<h2>Numbers</h2>
<pre>{html.escape(format_report(report))}</pre>
</body></html>
"""
