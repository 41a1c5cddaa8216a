"""Plumbing shared by every context: settings, topics, decoding, the record template, outbox, retry, logs, metrics, migrations."""
