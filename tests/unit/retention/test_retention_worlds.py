"""Issue 14's check of the statistics over seeded simulated worlds (src/billing/retention/worlds.py), analysed by
the pure report: coverage of the 95 % intervals, false decisions on null practices, the rare practice, and the
non-compliance rate."""

from billing.retention.rules.decisions import TOO_FEW
from billing.retention.rules.report import build_report
from billing.retention.worlds import KINDS, RARE, case_inputs, simulate_world

SEEDS = range(40)


def test_seeded_worlds_hold_coverage_no_false_decisions_and_report_compliance() -> None:
    covered = intervals = 0
    worlds_with_a_false_star = 0
    for seed in SEEDS:
        world = simulate_world(seed)
        report = build_report(case_inputs(world.cases), plan=world.plan())
        rows = {r["practice"]: r for r in report["practices"] if r["horizon_days"] == 90}
        for practice in KINDS:
            uplift = rows[practice]["uplift"]
            intervals += 1
            covered += uplift["ci_low"] <= world.true_itt[practice] <= uplift["ci_high"]
        nulls = [p for p, kind in KINDS.items() if kind == "null"]
        worlds_with_a_false_star += any(rows[p]["significant"] for p in nulls)
        rare = rows[RARE]
        assert rare["decision"]["verdict"] == TOO_FEW and not rare["significant"], seed
        assert RARE not in [r["practice"] for r in report["ranking"]]
        assert abs(report["non_compliance"]["rate"] - world.non_compliance) <= 0.02, seed
        for row in rows.values():  # the star and the decision interval always agree
            d = row["decision"]
            if "decision_ci_low" in d:
                assert row["significant"] == (d["decision_ci_low"] > 0 or d["decision_ci_high"] < 0), seed
    print(f"coverage {covered}/{intervals}, worlds with a null practice starred {worlds_with_a_false_star}")
    assert covered / intervals >= 0.93
    assert worlds_with_a_false_star <= 0.05 * len(SEEDS)
