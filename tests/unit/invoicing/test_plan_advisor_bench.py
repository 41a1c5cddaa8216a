"""The plan advisor benchmark runs and writes its figures (a smoke run: few iterations, a temporary file)."""

from __future__ import annotations

import json

from tools.bench import plan_advisor


def test_the_benchmark_writes_p50_and_p99(tmp_path):
    out = tmp_path / "results.json"
    assert plan_advisor.main(["--iterations", "3", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["cycles"] == 3 and results["events_per_cycle"] == 5000
    assert results["plans_priced"] == 3 and results["cheapest_plan_id"] == "mobile-l"
    assert 0 < results["advisor_ms"]["p50"] <= results["advisor_ms"]["p99"]
