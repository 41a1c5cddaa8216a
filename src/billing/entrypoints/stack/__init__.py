"""Embedded development services: a Kafka-protocol broker and a PostgreSQL cluster.

The launcher uses these when KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are unset.
"""

from .broker import EmbeddedBroker, resolve_broker_binary
from .postgres import EmbeddedPostgres, find_pg_bindir
from .procs import PrerequisiteError, free_port, port_is_free, stop_process, wait_for_port

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "PrerequisiteError",
    "find_pg_bindir",
    "free_port",
    "port_is_free",
    "resolve_broker_binary",
    "stop_process",
    "wait_for_port",
]
