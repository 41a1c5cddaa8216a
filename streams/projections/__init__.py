"""Per-stream effects: what each accepted event writes to PostgreSQL. Rules live in pure modules beside them."""
