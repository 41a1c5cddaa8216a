"""Account facts: the account projection, the upstream ledger and the account store agents read."""
