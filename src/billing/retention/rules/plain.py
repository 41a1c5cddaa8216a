"""One plain sentence per practice, for the top of the report: human names, customers per 100, money.

"15 % off the next 3 invoices keeps about 18 more customers in 100 at 90 days (between 9 and 26); it costs
42.10 EUR per customer kept." The numbers are the 95 % interval of the uplift (an estimate); the verdict
sentence that follows is the live decision of the pre-registered analysis, so a reader never sees a firm
claim the plan has not earned.
"""

from __future__ import annotations

from typing import Any

from billing.retention.rules import decisions as d
from billing.retention.rules.offers import PREFERRED_INVOICES, PREFERRED_PERCENT_BP

HUMAN_NAMES = {
    "discount_percent": f"{PREFERRED_PERCENT_BP // 100} % off the next {PREFERRED_INVOICES} invoices",
    "discount_fixed": "A fixed amount off the next invoice",
    "credit": "A goodwill credit",
    "plan_change": "Moving the customer to another plan",
    "explanation_only": "Explaining the bill, with no offer",
    "none": "Doing nothing in particular",
}


def human_name(practice: str) -> str:
    return HUMAN_NAMES.get(practice, practice.replace("_", " ").capitalize())


def _per_100(value: float) -> int:
    return round(100 * value)


def sentence(row: dict[str, Any], decision: dict[str, Any], horizon: int) -> str:
    name = human_name(row["practice"])
    uplift = row.get("uplift")
    if decision["verdict"] == d.OBSERVATIONAL_VERDICT:
        seen = "" if uplift is None else f" (the arms differ by about {_per_100(uplift['difference'])} in 100)"
        return (
            f"{name} is observational only: it is not withheld in the control arm, so agents chose whom to give it"
            f" to and the difference between the arms{seen} is not its effect; it is not tested or ranked."
        )
    if decision["verdict"] == d.TOO_FEW or uplift is None:
        smaller = min(row["treatment"]["cases"], row["control"]["cases"])
        return (
            f"{name}: too few cases to say anything yet ({smaller} in the smaller arm, "
            f"{decision['cases_needed_per_arm']} needed)."
        )
    estimate, low, high = (_per_100(uplift[k]) for k in ("difference", "ci_low", "ci_high"))
    if estimate == 0:
        effect = "makes no visible difference (about 0 customers in 100)"
    elif estimate > 0:
        effect = f"keeps about {estimate} more customers in 100"
    else:
        effect = f"loses about {-estimate} customers in 100"
    text = f"{name} {effect} at {horizon} days (between {low} and {high})"
    costs = [c for c in row.get("cost_per_retained", {}).values() if c["point"] is not None]
    if costs:
        text += "; it costs " + " or ".join(c["point"] for c in costs) + " per customer kept"
    return text + ". " + _verdict(decision)


def _verdict(decision: dict[str, Any]) -> str:
    verdict = decision["verdict"]
    if verdict in (d.KEEPS, d.LOSES):
        return "The evidence is firm (the pre-registered test has decided)."
    if verdict == d.NO_CLEAR_EFFECT:
        return "At the planned number of cases the effect is still not clear: it is smaller than the plan looked for."
    done = round(100 * min(1.0, decision["information"]))
    return f"Not yet decidable: {done} % of the planned cases are in."
