"""Which outbox topics the relay leaves alone for now, and when a failing topic is worth a person's attention.

Pure bookkeeping (no Kafka, no database): the relay reports each topic's send outcome with a monotonic time.
A topic whose send failed is skipped, with all its later rows, until its backoff ends; skipping whole topics keeps
every topic's rows (and so every key's rows) in table order while the other topics keep flowing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TopicBackoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    report_every: int = 5  # failures in a row after which (and every so many after) the topic is reported
    _failures: dict[str, int] = field(default_factory=dict)
    _retry_at: dict[str, float] = field(default_factory=dict)

    def blocked(self, now: float) -> list[str]:
        """Topics still inside their backoff: the relay selects none of their rows."""
        return sorted(topic for topic, at in self._retry_at.items() if at > now)

    def failed(self, topic: str, now: float) -> int:
        """Record one more failure in a row; the wait doubles each time up to the cap. Returns the count."""
        count = self._failures.get(topic, 0) + 1
        self._failures[topic] = count
        self._retry_at[topic] = now + min(self.cap_s, self.base_s * 2 ** (count - 1))
        return count

    def succeeded(self, topic: str) -> int:
        """Forget the topic's failures; returns how many there were (0: it was not failing)."""
        self._retry_at.pop(topic, None)
        return self._failures.pop(topic, 0)

    def should_report(self, failures: int) -> bool:
        return failures >= self.report_every and failures % self.report_every == 0

    def failing(self) -> dict[str, int]:
        return dict(self._failures)
