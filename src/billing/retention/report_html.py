"""`billing report retention --html FILE`: one self-contained HTML page with the plots inline (PNG, base64).

For a business leader first: one plain sentence per practice (the report's ``summary``, the same the terminal
prints) and the experiment period with every other period listed apart (its own plan and share), then the
plots: retention curves with 95 % bands and the numbers still followed under each, uplift
against the control arm with its 95 % interval and the plan's decision interval, weekly service level and
abandonment on a date axis whose labels do not overlap, retention by wait (observational); then the analysts'
details (the terminal report). No script, no external file: the page works offline. The page background is a
light beige and every plot is on white, so a screenshot test can find the plots.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory
import matplotlib.dates as mdates  # noqa: E402 - after choosing the backend
import matplotlib.pyplot as plt  # noqa: E402

from billing.retention.report_text import format_report, period_lines  # noqa: E402
from billing.retention.rules.plain import human_name  # noqa: E402

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
        ax.set_title(human_name(practice), fontsize=9)
        ax.set_xlabel("days after the case")
        ax.set_xticks(_AT_RISK_DAYS)
        ax.grid(alpha=0.3)
        _numbers_at_risk(ax, curves)
    for ax in list(axes.flat)[len(practices) :]:
        ax.axis("off")
    axes[0][0].set_ylabel("still a customer")
    if practices:
        axes[0][0].legend(fontsize=8)
    figure.suptitle("Share of customers still with us after the call (95 % bands; below: customers still followed)")
    figure.tight_layout(h_pad=3.0)
    figure.subplots_adjust(bottom=0.3 / rows)  # room for the numbers at risk under the axis label
    return figure


_AT_RISK_DAYS = (0, 30, 60, 90)


def _at_risk(points: list[dict[str, Any]], day: int) -> int:
    """Customers still followed at ``day``: the at-risk count of the first step at or after it."""
    later = [p["at_risk"] for p in points if p["day"] >= day]
    return later[0] if later else 0


def _numbers_at_risk(ax: plt.Axes, curves: dict[str, Any]) -> None:
    for row, (arm, (colour, _)) in enumerate(_ARM_STYLE.items()):
        points = curves.get(arm) or []
        for day in _AT_RISK_DAYS:
            ax.annotate(
                str(_at_risk(points, day)) if points else "-",
                xy=(day, 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -44 - 11 * row),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color=colour,
            )


def uplift_figure(report: dict[str, Any]) -> plt.Figure:
    horizon = report["ranking_horizon_days"]
    ranked = {entry["practice"] for entry in report["ranking"]}  # too few cases: never plotted as a result
    rows = [r for r in report["practices"] if r["horizon_days"] == horizon and r["practice"] in ranked]
    rows.sort(key=lambda r: r["uplift"]["difference"])
    figure, ax = plt.subplots(figsize=(10, 3.6))
    for y, row in enumerate(rows):
        u = row["uplift"]
        # Coloured only once the plan has decided, so colour never claims more than the star.
        colour = "tab:gray" if not row["significant"] else "tab:green" if u["difference"] > 0 else "tab:red"
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
        d = row["decision"]
        ax.plot(
            [100 * d["decision_ci_low"], 100 * d["decision_ci_high"]],
            [y - 0.25, y - 0.25],
            color=colour,
            linewidth=1,
            linestyle=":",
        )
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), [human_name(r["practice"]) for r in rows])
    ax.set_xlabel(
        f"more customers kept per 100 at {horizon} days vs control (95 % interval; dotted: decision interval)"
    )
    ax.set_title("Extra customers kept per 100, by practice")
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
    ax.set_title("Retention by wait for an agent (observational: an association, not an effect)")
    figure.tight_layout()
    return figure


def service_figure(report: dict[str, Any]) -> plt.Figure:
    weeks = report["service"]
    figure, ax = plt.subplots(figsize=(10, 3.6))
    days = [date.fromisoformat(w["week"]) for w in weeks]
    level = [100 * w["service_level"] if w["service_level"] is not None else math.nan for w in weeks]
    abandon = [100 * w["abandonment_rate"] if w["abandonment_rate"] is not None else math.nan for w in weeks]
    # matplotlib plots dates through its unit converters; its stubs type the x values as numbers only.
    ax.plot(days, level, color="tab:blue", linewidth=2, marker="o", label="service level")  # type: ignore[arg-type]
    ax.plot(days, abandon, color="tab:red", linewidth=2, marker="s", label="abandonment")  # type: ignore[arg-type]
    # At most about 8 dates, written concisely (months once, the year once): the labels never overlap.
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of calls")
    ax.set_title(f"Service level ({report['service_level_variant']}) and abandonment per week")
    ax.legend()
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


FIGURES = (
    ("Customers still with us after the call", survival_figure),
    ("Extra customers kept by each practice", uplift_figure),
    ("Service level and abandonment", service_figure),
    ("Wait time and retention (observational)", wait_figure),
)


def render_html(report: dict[str, Any]) -> str:
    summary = "\n".join(f"<li>{html.escape(entry['sentence'])}</li>" for entry in report["summary"])
    periods = "\n".join(html.escape(line) for line in period_lines(report))
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
ul.summary {{ font-size: 18px; line-height: 1.5; max-width: 1000px; }}
pre {{ font-size: 10px; background: {PAGE_BACKGROUND}; overflow-x: auto; }}
pre.periods {{ font-size: 14px; white-space: pre-wrap; max-width: 1000px; }}
</style></head>
<body>
<h1>Which practices keep customers</h1>
<ul class="summary">
{summary}
</ul>
<p>Each practice is measured against a control arm chosen by chance (a share of accounts does not get the
offer); "between" gives the 95 % range. A practice is called firmly only once the analysis planned in advance
({html.escape(str(report["analysis_plan"]["version"]))}) has decided, however often this page is read.</p>
<h2>Experiment periods</h2>
<pre class="periods">{periods}</pre>
{"".join(sections)}
<h2>Details for analysts</h2>
<pre>{html.escape(format_report(report))}</pre>
</body></html>
"""
