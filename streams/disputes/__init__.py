"""Invoice disputes: the pure lifecycle and credit rules (``lifecycle``, ``credit``) and their runtime
(``store``: transitions in PostgreSQL with their events through the outbox; ``resolution``: rejecting, or
crediting under the discount authority)."""
