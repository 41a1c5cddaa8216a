"""Pure identity rules: roles, secret hashing and sealing, lockout, masking (no I/O)."""
