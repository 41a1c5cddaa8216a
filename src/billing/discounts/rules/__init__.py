"""Discount authority: who may grant how much, and when a second person must approve.

Pure logic (no I/O, no clock; ``now`` is always a parameter), stdlib only.
Modules: ``policy`` (limits and eligibility rules from configuration;
``policy_defaults`` holds the default dict),
``grants`` (requests, profiles, history and decision types),
``eligibility`` (the rules that can refuse a grant), ``decisions``
(``decide`` and ``approve``).
"""
