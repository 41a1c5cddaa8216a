"""Discount grants and approvals at runtime (decisions from ``rules/``) and idempotency keys for money actions."""
