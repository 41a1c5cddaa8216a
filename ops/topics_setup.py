"""Create the topics of `streams/topics.py` with their partition counts, before any client can auto-create them.

Auto-created topics get the broker's default partition count (4 on Tansu, whatever Faust asks), so the
launcher creates every topic first. An existing topic with fewer partitions than configured is reported,
never silently altered: adding partitions moves keys between partitions and breaks per-account order.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.settings import Settings
from streams.queues.config import load_care_config
from streams.topics import ALL_TOPICS, TopicSpec, queue_topics


class TopicSetupError(RuntimeError):
    pass


async def ensure_topics(settings: Settings, topics: tuple[TopicSpec, ...] | None = None) -> list[str]:
    """Create missing topics (by default every topic, with one per configured agent queue); return those created."""
    if topics is None:
        topics = (*ALL_TOPICS, *queue_topics(load_care_config(settings).queues))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.require_bootstrap(), client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = await _partition_counts(admin)
        missing = [spec for spec in topics if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(spec.name, spec.partitions(settings), settings.replication_factor)
                    for spec in missing
                ]
            )
        _check_counts(settings, topics, existing)
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    metadata = await admin.describe_topics()
    return {t["topic"]: len(t["partitions"]) for t in metadata if not t.get("error_code")}


def _check_counts(settings: Settings, topics: tuple[TopicSpec, ...], existing: dict[str, int]) -> None:
    for spec in topics:
        have = existing.get(spec.name)
        if have is not None and have < spec.partitions(settings):
            raise TopicSetupError(
                f"topic {spec.name} has {have} partitions but {spec.partitions(settings)} are configured: "
                "lower the setting or recreate the topic"
            )
