"""Retention statistics: did discounts keep customers, and at what cost?

Pure logic (no I/O, no clock), stdlib only: ``stats`` (Wilson interval, two-proportion z-test, cost per
retained customer), ``arms`` (deterministic randomised holdout), ``survival`` (Kaplan-Meier and log-rank
from churn counts per tenure bucket), ``counters`` (mergeable outcome counters per practice, arm and
horizon), ``outcomes`` (deciding a case's 30/60/90-day horizons in event time), ``offers`` (the suggested
offer, none in the control arm), ``table_cells`` (the live Faust table's cells), ``report`` (the report as
plain data).

The PostgreSQL edge (asyncpg, no business rules): ``store`` (cases, closures, clock, resolution with its
counters) and ``queries`` (reading the counters into a report).
"""
