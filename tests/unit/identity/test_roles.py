from __future__ import annotations

import pytest

from billing.identity.rules.roles import DEFAULT_ROLE_QUEUES, Role, RoleQueuesError, parse_role_queues
from billing.platform.settings import Settings


def test_default_mapping() -> None:
    mapping = parse_role_queues(DEFAULT_ROLE_QUEUES)
    assert mapping[Role.AGENT] == ("billing", "disputes", "retention")
    assert mapping[Role.TIER2] == ("billing", "disputes", "retention", "tier2")
    assert "supervisors" in mapping[Role.SUPERVISOR]
    assert mapping[Role.ANALYST] == ()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("agent=billing;tier2=billing;supervisor=billing", "without an entry"),
        ("agent=billing;agent=disputes;tier2=;supervisor=;analyst=", "twice"),
        ("agent=billing;tier2=;supervisor=;analyst=;boss=all", "not a role"),
        ("agent=Billing Queue;tier2=;supervisor=;analyst=", "not queue names"),
        ("agent=billing;tier2=;supervisor=;analyst=billing", "read-only"),
        ("agent billing", "expected role="),
    ],
)
def test_bad_mappings_are_refused_with_a_reason(text: str, complaint: str) -> None:
    with pytest.raises(RoleQueuesError, match=complaint):
        parse_role_queues(text)


def test_the_setting_defaults_to_this_mapping() -> None:
    assert Settings.model_fields["agent_role_queues"].default == DEFAULT_ROLE_QUEUES
