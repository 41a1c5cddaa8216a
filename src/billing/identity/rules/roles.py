"""Agent roles, what each may do, and which queues each may claim from (configuration, AGENT_ROLE_QUEUES).

Pure. The mapping is a short string so it travels through environment variables unchanged:
`agent=billing,disputes,retention;tier2=...;analyst=` (a role with nothing after `=` claims from no queue).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    AGENT = "agent"  # tier 1
    TIER2 = "tier2"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"  # read-only: queue figures, never account data


# Who may work tasks (claim, accept, verify a caller, see an account, open a dispute, complete).
WORKERS = frozenset({Role.AGENT, Role.TIER2, Role.SUPERVISOR})
EVERYONE = frozenset(Role)
# Who may read the audit trail and the dispute desk's figures: those who oversee the work, not those who do it.
# (Who may approve another's grant is the discount policy's can_approve_others, per role and currency.)
AUDITORS = frozenset({Role.SUPERVISOR, Role.ANALYST})

DEFAULT_ROLE_QUEUES = (
    "agent=billing,disputes,retention;"
    "tier2=billing,disputes,retention,tier2;"
    "supervisor=billing,disputes,retention,tier2,supervisors;"
    "analyst="
)

_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class RoleQueuesError(ValueError):
    """AGENT_ROLE_QUEUES cannot be read."""


def parse_role_queues(text: str) -> Mapping[Role, tuple[str, ...]]:
    """Every role must appear exactly once, so a typo cannot silently leave a role with no queues."""
    mapping: dict[Role, tuple[str, ...]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        role_text, sep, queues_text = entry.partition("=")
        if not sep:
            raise RoleQueuesError(f"{entry!r}: expected role=queue,queue")
        try:
            role = Role(role_text.strip())
        except ValueError:
            raise RoleQueuesError(f"{role_text.strip()!r} is not a role ({', '.join(Role)})") from None
        if role in mapping:
            raise RoleQueuesError(f"role {role} appears twice")
        queues = tuple(q.strip() for q in queues_text.split(",") if q.strip())
        bad = [q for q in queues if not _QUEUE_NAME.match(q)]
        if bad:
            raise RoleQueuesError(f"role {role}: {bad} are not queue names")
        mapping[role] = queues
    missing = set(Role) - set(mapping)
    if missing:
        raise RoleQueuesError(f"roles without an entry: {', '.join(sorted(missing))}")
    if mapping[Role.ANALYST]:
        raise RoleQueuesError("analyst is read-only and claims from no queue")
    return MappingProxyType(mapping)
