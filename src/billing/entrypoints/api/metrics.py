"""Prometheus metrics of the API process, on a registry of its own (so tests can build several apps)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "billing_api_requests",
            "Agent API requests by route and outcome.",
            ["action", "status", "result"],
            registry=r,
        )
        self.seconds = Histogram("billing_api_request_seconds", "Agent API request duration.", ["action"], registry=r)
        self.verifications = Counter(
            "billing_api_verifications",
            "Caller verification attempts by method and result.",
            ["method", "result"],
            registry=r,
        )

        # Presence (issue 15): time agents spent in each state, counted when a spell ends, and the changes.
        self.presence_seconds = Counter(
            "billing_agent_presence_seconds",
            "Seconds agents spent in a presence state (available, busy, wrap_up, offline), per finished spell.",
            ["state"],
            registry=r,
        )
        self.presence_changes = Counter(
            "billing_agent_presence_changes", "Agent presence changes by the state entered.", ["state"], registry=r
        )

        # Live updates across API processes (billing.entrypoints.api.live_peers).
        self.live_peer_send_failures = Counter(
            "billing_api_live_peer_send_failures",
            "Desk changes of this API process not sent to the other API processes (the action itself succeeded).",
            registry=r,
        )
        self.live_listener_reconnects = Counter(
            "billing_api_live_listener_reconnects",
            "Times the connection listening for the other API processes' desk changes was opened again (pages reset).",
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
