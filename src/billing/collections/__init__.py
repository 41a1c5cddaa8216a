"""Collections: payments, the per-account ledger and balance, overdue invoices and dunning (issue 13).

`rules/` is pure (ledger, allocation, overdue, dunning policy, statement); the shell beside it stores the ledger
(store.py), projects payment, invoice and credit-note events into it (projection.py) and runs the dunning steps
(dunning_runner.py).
"""
