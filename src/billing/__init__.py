"""Telecom-style customer billing, one folder per business context.

Each context keeps its pure rules in ``rules/`` (no Kafka, database, HTTP or logging import; the import
contracts in pyproject.toml enforce it) beside its shell (stores, projections, consumers, loops):

- ``usage``: usage events rated and stored on the hot path, exactly once per record.
- ``invoicing``: the catalog, the pricing rules, the cycle close that issues invoices, the invoice document,
  the bill explanation and the plan advisor.
- ``collections``: payments, the per-account ledger, overdue and dunning in event time.
- ``accounts``: the one owner of account facts and of good standing, and what an agent may see of them.
- ``care``: routing rules and the agent queues (tasks, leases, the sweeper, queue metrics).
- ``credits``: disputes and the credit notes that settle them.
- ``discounts``: discount grants under the authority rules, approvals by a second person.
- ``retention``: holdout arms, outcomes and the retention statistics.
- ``identity``: agents, roles, secrets and caller verification.

Shared: ``money`` (currencies and the one rounding rule), ``contracts`` (the event models), ``platform``
(settings, topics, decoding, the record template, outbox, retry, logs, metrics, migrations) and
``entrypoints`` (worker, agent API with the desk and the wall, command line, the embedded development stack),
which nothing imports.
"""
