"""`billing report retention`: the retention report as terminal tables (the HTML is src/billing/retention/report_html.py)."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}%"


def _interval(low: float, high: float) -> str:
    return f"[{100 * low:5.1f}, {100 * high:5.1f}]"


def _arm_cells(arm: dict[str, Any]) -> list[str]:
    return [str(arm["cases"]), _pct(arm["rate"]), _interval(arm["ci_low"], arm["ci_high"])]


def _uplift_cells(row: dict[str, Any]) -> list[str]:
    uplift = row["uplift"]
    if uplift is None:
        return ["-", "-", "-"]
    mark = " *" if row["significant"] else ""
    return [
        f"{100 * uplift['difference']:+5.1f} pp{mark}",
        f"[{100 * uplift['ci_low']:+5.1f}, {100 * uplift['ci_high']:+5.1f}]",
        f"{uplift['p_value']:.3g}",
    ]


def _cost_cell(row: dict[str, Any]) -> str:
    costs = row["cost_per_retained_minor"]
    if not costs:
        return "-"
    return ", ".join(f"{amount} {ccy}" if amount is not None else f"n/a {ccy}" for ccy, amount in costs.items())


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def format_report(report: dict[str, Any]) -> str:
    """Practices by horizon, the ranking, retention by wait band, and weekly service level."""
    practice_rows = [
        [
            row["practice"],
            f"{row['horizon_days']}d",
            *_arm_cells(row["treatment"]),
            *_arm_cells(row["control"]),
            *_uplift_cells(row),
            _cost_cell(row),
        ]
        for row in report["practices"]
    ]
    cohort = report.get("cohort")
    scope = (
        "every case followed"
        if not cohort
        else f"the cases handled from {cohort['cases_from'] or 'the start'} to before {cohort['cases_to'] or 'now'}"
    )
    parts = [
        f"Cohort: {scope}",
        "Retention per practice and arm (Wilson 95 % intervals); uplift = treatment - control, two-proportion "
        "z-test (* p < 0.05); cost = discount money / customers retained beyond the control rate (minor units)",
        _table(
            [
                "practice",
                "horizon",
                "treated",
                "rate",
                "95% CI",
                "control",
                "rate",
                "95% CI",
                "uplift",
                "95% CI",
                "p",
                "cost/retained",
            ],
            practice_rows,
        ),
        "",
        f"Ranking by uplift at {report['ranking_horizon_days']} days: "
        + (" > ".join(r["practice"] for r in report["ranking"]) or "no practice has both arms yet"),
        "",
        f"Retention by wait-time band at {report['ranking_horizon_days']} days (all cases)",
        _table(
            ["wait", "cases", "rate", "95% CI"],
            [
                [b["band"], str(b["cases"]), _pct(b["rate"]), _interval(b["ci_low"], b["ci_high"])]
                for b in report["wait_bands"]
            ],
        ),
        "",
        f"Calls per week ({report['service_level_variant']})",
        _table(
            ["week", "offered", "answered", "abandoned", "service level", "abandonment"],
            [
                [
                    w["week"],
                    str(w["offered"]),
                    str(w["answered"]),
                    str(w["abandoned"]),
                    _pct(w["service_level"]),
                    _pct(w["abandonment_rate"]),
                ]
                for w in report["service"]
            ],
        ),
    ]
    return "\n".join(parts)
