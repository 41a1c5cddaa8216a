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
    uplift, decision = row["uplift"], row["decision"]
    if uplift is None:
        return ["-", "-", "-", "-", decision["verdict"]]
    mark = " *" if row["significant"] else ""
    decided = "-"
    if "decision_ci_low" in decision:
        decided = f"[{100 * decision['decision_ci_low']:+5.1f}, {100 * decision['decision_ci_high']:+5.1f}]{mark}"
        decided += f" p={decision['p_value_adjusted']:.3g}"
    return [
        f"{100 * uplift['difference']:+5.1f} pp{mark}",
        f"[{100 * uplift['ci_low']:+5.1f}, {100 * uplift['ci_high']:+5.1f}]",
        f"{uplift['p_value']:.3g}",
        decided,
        decision["verdict"],
    ]


def _cost_cell(row: dict[str, Any]) -> str:
    costs = row["cost_per_retained"]
    if not costs:
        return "-"
    cells = []
    for ccy, cost in costs.items():
        if cost["point"] is None:
            cells.append(f"n/a {ccy}")
            continue
        low = cost["low"] or "?"
        high = cost["high"] or "no upper bound"
        cells.append(f"{cost['point']} [{low.split()[0]}, {high.split()[0] if cost['high'] else high}]")
    return ", ".join(cells)


def _power_line(row: dict[str, Any]) -> str:
    d = row["decision"]
    mde_now = "-" if d["mde_now"] is None else f"{100 * d['mde_now']:.1f} pp"
    mde_plan = "-" if d["mde_at_plan"] is None else f"{100 * d['mde_at_plan']:.1f} pp"
    return (
        f"  {row['practice']}: {row['treatment']['cases'] + row['control']['cases']} of {d['planned_cases']} planned"
        f" cases ({100 * min(1, d['information']):.0f} %), holdout {100 * d['holdout_share']:.1f} %;"
        f" detectable now {mde_now}, at the planned size {mde_plan}; power for the plan's minimum effect"
        f" now {100 * d['power_now']:.0f} %, at the planned size {100 * d['power_at_plan']:.0f} %"
    )


def _compliance_line(row: dict[str, Any]) -> str | None:
    c = row["compliance"]
    if c is None:
        return None
    effect = "-"
    if c["complier_effect"] is not None:
        effect = f"{100 * c['complier_effect']:+.1f} pp [{100 * c['complier_ci_low']:+.1f}, {100 * c['complier_ci_high']:+.1f}]"
    return (
        f"  {row['practice']}: non-compliance {100 * c['non_compliance_rate']:.1f} % of cases (treated in the"
        f" treatment arm {100 * c['treatment_arm_treated']:.1f} %, in the control arm {100 * c['control_arm_treated']:.1f} %);"
        f" intention to treat {100 * row['uplift']['difference']:+.1f} pp; among compliers {effect}"
    )


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
    plan = report["analysis_plan"]
    primary = [r for r in report["practices"] if r["decision"]["role"] == "primary"]
    compliance = [line for line in map(_compliance_line, primary) if line]
    parts = [
        f"Cohort: {scope}",
        "",
        *[entry["sentence"] for entry in report["summary"]],
        "",
        f"Analysis plan {plan['version']}: primary horizon {plan['primary_horizon_days']} days; practices compared"
        f" {', '.join(plan['practices'])}; family-wise alpha {plan['alpha']} ({plan['correction']}); live decision:"
        f" {plan['live_decision']}; at least {plan['min_arm_size']} cases per arm",
        "Retention per practice and arm (Wilson 95 % intervals); uplift = treatment - control with its 95 % interval"
        " (Newcombe, clustered by account; Fisher's exact test for small cells) and p-value; the decision interval"
        " and adjusted p-value are the plan's (* = decided: the decision interval excludes 0); other horizons are"
        " not tested; cost = discount money / customers retained beyond the control rate, with its 95 % interval",
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
                "decision",
                "verdict",
                "cost/retained",
            ],
            practice_rows,
        ),
        "",
        f"Ranking by uplift at {report['ranking_horizon_days']} days: "
        + (" > ".join(r["practice"] for r in report["ranking"]) or "no practice has both arms yet"),
        "",
        "Power and minimum detectable effect (80 % power, the plan's boundary)",
        *[_power_line(row) for row in primary],
        *(["", "Intention to treat and compliance (withheld practices)", *compliance] if compliance else []),
        "",
        f"Retention by wait-time band at {report['ranking_horizon_days']} days (all cases; {report['wait_bands_note']})",
        _table(
            ["wait", "cases", "rate", "95% CI"],
            [
                [b["band"], str(b["cases"]), _pct(b["rate"]), _interval(b["ci_low"], b["ci_high"])]
                for b in report["wait_bands"]
            ],
        ),
        "",
        "Churn by cause of the closure (cases churned by a resolved horizon)",
        _table(
            ["practice", "arm", "cause", "churned"],
            [[c["practice"], c["arm"], c["cause"], str(c["churned"])] for c in report.get("churn_causes", [])],
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
