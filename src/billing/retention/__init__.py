"""Retention: holdout arms, case outcomes, the live counters and the retention report (text and HTML)."""
