"""Identity: agents and their roles, secrets kept unreadable, caller verification by PIN or one-time code."""
