"""Pure account rules: what an agent may see of an account (masked until the caller is verified)."""
