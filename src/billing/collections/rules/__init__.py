"""Pure collection rules: no Kafka, database, HTTP or logging import."""
