"""Retention statistics: did discounts keep customers, and at what cost?

Pure logic (no I/O, no clock), stdlib only. Modules: ``stats`` (Wilson
interval, two-proportion z-test, cost per retained customer), ``arms``
(deterministic randomised holdout), ``survival`` (Kaplan-Meier and log-rank
from churn counts per tenure bucket), ``counters`` (mergeable outcome
counters per practice, arm and horizon, and the report built from them).
"""
