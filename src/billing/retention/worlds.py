"""Seeded simulated worlds with a known truth, analysed by the pure report (no broker, no database).

Issue 14's check of the statistics: in each world the effects are drawn from the seed (two helping, two
doing nothing, one hurting), base 90-day retention is 55-85 %, 10 % of accounts are held out, one rare
practice has fewer than 30 cases, high-value customers are offered discounts more often and churn less (a
confounder the randomised arm must neutralise), accounts call up to three times and share an account-level
frailty (so their cases are correlated), and a drawn share of cases is handled against the arm (the control
case given the practice, the treatment case not given it).

The true intention-to-treat effect of a practice is (1 - 2 * non-compliance) * the average over its cases of
(retention if given - retention if not), which is what its reported uplift estimates. ``case_inputs`` turns
case rows into the report's inputs exactly as src/billing/retention/queries.py does in SQL.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from billing.retention.rules.arms import Arm, assign_arm
from billing.retention.rules.compliance import ArmCompliance
from billing.retention.rules.counters import CounterKey, RetentionCounters, Tally, wait_bucket_s
from billing.retention.rules.intervals import ClusterMoments
from billing.retention.rules.plan import AnalysisPlan
from billing.retention.rules.report import ReportInputs

HORIZON = 90
RARE = "rare_gesture"
KINDS = {"discount_percent": "positive", "credit": "positive", "discount_fixed": "null", "plan_change": "null"}
KINDS |= {"callback_promise": "harmful"}


@dataclass(frozen=True)
class Case:
    account_id: str
    practice: str
    arm: str
    treated: bool  # received the practice
    retained: bool
    wait_s: int
    discount_minor: int


@dataclass
class World:
    seed: int
    base_rate: float
    non_compliance: float
    effects: dict[str, float]  # the effect of receiving the practice, per practice
    true_itt: dict[str, float] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)

    def plan(self) -> AnalysisPlan:
        """Every practice of a world is withheld in its control arm (randomised), so every one is tested."""
        per_practice = len([c for c in self.cases if c.practice != RARE]) // len(KINDS)
        practices = (*sorted(KINDS), RARE)
        return AnalysisPlan(practices=practices, withheld=practices, planned_cases=per_practice)


def _clip(p: float) -> float:
    return min(0.99, max(0.01, p))


def simulate_world(seed: int, accounts: int = 5000, rare_cases: int = 20) -> World:
    rng = random.Random(seed)
    effects = {
        p: {"positive": rng.uniform(0.04, 0.15), "null": 0.0, "harmful": -rng.uniform(0.04, 0.15)}[k]
        for p, k in KINDS.items()
    }
    effects[RARE] = rng.uniform(0.05, 0.15)
    world = World(seed, rng.uniform(0.55, 0.85), rng.uniform(0.02, 0.12), effects)
    gains: dict[str, list[float]] = defaultdict(list)
    rare_left = rare_cases
    for index in range(accounts):
        account = f"w{seed}-{index}"
        high_value = rng.random() < 0.3
        frailty = rng.uniform(-0.06, 0.06)  # shared by the account's cases: repeat callers are correlated
        arm = assign_arm(account, 1000, salt=f"world-{seed}").value
        for _ in range(rng.choices((1, 2, 3), (0.7, 0.2, 0.1))[0]):
            if rare_left and rng.random() < rare_cases / accounts:
                practice, rare_left = RARE, rare_left - 1
            else:  # the confounder: high-value customers are offered the percent discount more often
                weights = [4 if high_value and p == "discount_percent" else 1 for p in sorted(KINDS)]
                practice = rng.choices(sorted(KINDS), weights=weights)[0]
            wait_s = min(900, int(rng.lognormvariate(3.8, 0.9)))
            base = world.base_rate + (0.06 if high_value else -0.02) + frailty - 0.05 * wait_s / 900
            given, not_given = _clip(base + effects[practice]), _clip(base)
            gains[practice].append(given - not_given)
            follows = rng.random() >= world.non_compliance
            treated = (arm == "treatment") == follows
            retained = rng.random() < (given if treated else not_given)
            money = 1349 if treated and practice.startswith("discount") else 0
            world.cases.append(Case(account, practice, arm, treated, retained, wait_s, money))
    world.true_itt = {p: (1 - 2 * world.non_compliance) * sum(g) / len(g) for p, g in gains.items()}
    return world


def case_inputs(cases: list[Case], horizon: int = HORIZON) -> ReportInputs:
    """The report's inputs from case rows: counters, money, account moments and compliance (as queries.py)."""
    tallies: dict[CounterKey, Tally] = defaultdict(Tally)
    money: dict[tuple[str, str, int, str], int] = defaultdict(int)
    per_account: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for case in cases:
        tallies[CounterKey(case.practice, Arm(case.arm), horizon, wait_bucket_s(case.wait_s))] += Tally(
            1, case.retained
        )
        money[(case.practice, case.arm, horizon, "EUR")] += case.discount_minor
        counts = per_account[(case.practice, case.arm, case.account_id)]
        counts[0] += 1
        counts[1] += case.retained
        counts[2] += case.treated
        counts[3] += case.treated and case.retained
    sums: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0] * 8)
    for (practice, arm, _), (n, y, d, dy) in per_account.items():
        for i, value in enumerate((1, n, y, n * n, n * y, y * y, d, dy)):
            sums[(practice, arm, horizon)][i] += value
    return ReportInputs(
        counters=RetentionCounters(dict(tallies)),
        money=dict(money),
        accounts={k: ClusterMoments(*v[:6]) for k, v in sums.items()},
        compliance={k: ArmCompliance(v[1], v[2], v[6], v[7]) for k, v in sums.items()},
    )
