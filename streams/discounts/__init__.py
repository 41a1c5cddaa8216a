"""Discount grants and approvals at runtime (authority decisions from ``streams.authority``), credit notes, and
idempotency keys for agent actions that move money."""
