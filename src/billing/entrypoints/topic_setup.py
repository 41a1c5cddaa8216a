"""Create the topics of `src/billing/platform/topics.py` with their partition counts, before any client can auto-create them.

Auto-created topics get the broker's default partition count (4 on Tansu, whatever Faust asks), so the
launcher creates every topic first. An existing topic with fewer partitions than configured is reported,
never silently altered: adding partitions moves keys between partitions and breaks per-account order.

Every queue a task can land in gets its topic here, from the care configuration actually loaded (CARE_RULES_PATH)
and the agent roles' queues, not only the defaults: a send to a topic the broker lacks stalls until it times out.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from billing.care.config import CareConfig, load_care_config
from billing.care.routing_tasks import HELD_INVOICE_ROUTE
from billing.collections.dunning_config import load_policy
from billing.discounts.approvals import APPROVAL_QUEUE
from billing.identity.rules.roles import parse_role_queues
from billing.platform.settings import Settings
from billing.platform.topics import ALL_TOPICS, TopicSpec, queue_topics


class TopicSetupError(RuntimeError):
    pass


async def ensure_topics(settings: Settings, topics: tuple[TopicSpec, ...] | None = None) -> list[str]:
    """Create missing topics (by default every topic, with one per configured agent queue); return those created."""
    if topics is None:
        topics = (*ALL_TOPICS, *queue_topics(task_queues(settings, load_care_config(settings))))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.require_bootstrap(), client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = await _partition_counts(admin)
        missing = [spec for spec in topics if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(spec.name, spec.partitions(settings), settings.replication_factor) for spec in missing]
            )
        _check_counts(settings, topics, existing)
        return [spec.name for spec in missing]
    finally:
        await admin.close()


def task_queues(settings: Settings, care: CareConfig) -> set[str]:
    """Every queue a task can be routed to or widened into, or an agent role claims from."""
    widened = {q for steps in care.widening.steps_by_queue.values() for step in steps for q in step.add_queues}
    claimed = {q for queues in parse_role_queues(settings.agent_role_queues).values() for q in queues}
    # routed by code, whatever the rules say (collections calls: the dunning policy's queue)
    fixed = {HELD_INVOICE_ROUTE.queue, APPROVAL_QUEUE, load_policy(settings).queue}
    return {*care.queues, *widened, *care.senior_queues, *claimed, *fixed}


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
