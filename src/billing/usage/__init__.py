"""Usage rating on the hot path: decode, rate against the account's plan, store once per record key."""
