"""Pure credit rules: the dispute lifecycle, what a credit may be, dispute statistics (no I/O)."""
