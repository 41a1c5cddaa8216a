"""Topic setup covers every queue a task can land in, from the loaded configuration, not only the defaults."""

from __future__ import annotations

from billing.care.config import load_care_config
from billing.entrypoints.topic_setup import task_queues
from billing.platform.settings import load_settings


def test_queues_of_the_agent_roles_and_of_code_routed_tasks_get_topics() -> None:
    settings = load_settings(agent_role_queues="agent=apiq_x;tier2=apiq_x;supervisor=apiq_y;analyst=")
    queues = task_queues(settings, load_care_config(settings))
    # Routing rules' queues (built-in defaults), the roles' queues, and supervisors (held invoices, approvals).
    assert {"billing", "disputes", "retention", "apiq_x", "apiq_y", "supervisors"} <= queues
    assert "apiq_z" not in queues
