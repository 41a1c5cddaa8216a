"""The retention holdout in the discount authority: one rule for granting and for approving (issue 14 point 3).

A practice the case's experiment period withholds (the retention context decides, ``withheld_for_task``: the
case's task is in the control arm and the period's plan withholds the practice) is refused with the rule
``withheld_in_control_arm`` when an agent asks for it and when a second person approves a pending request for
it. Where the business insists (RETENTION_CONTROL_GRANTS=allow_with_reason) it is given when the agent names a
reason; the reason goes into the request's criteria, so its approval finds it there and the report counts the
case's discount as non-compliance.

The discount route asks it for every grant (``holdout_criteria``), dispute resolution for a goodwill dispute credit
only (src/billing/credits/rules/goodwill.py: a credit that corrects a billing error is no retention practice and is
never withheld), and the approval of a pending request for the same requests (``holdout_refusal``).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from billing.discounts.rules.grants import Refused
from billing.discounts.rules.policy import GrantKind
from billing.retention.experiment import withheld_for_task
from billing.retention.rules.compliance import PRACTICE_OF_GRANT

WITHHELD_RULE = "withheld_in_control_arm"
ALLOW_WITH_REASON = "allow_with_reason"
_EXCEPTION = "control-arm exception: "
_MAX_CRITERION = 64  # the length every criterion is cut to


async def holdout_refusal(
    conn: asyncpg.Connection, case_task_id: str | None, kind: GrantKind, control_grants: str, reason: str | None
) -> Refused | None:
    """The refusal when ``kind`` is withheld from the case of ``case_task_id`` and no allowed reason is given."""
    if case_task_id is None or not await withheld_for_task(conn, case_task_id, PRACTICE_OF_GRANT[kind.value]):
        return None
    if control_grants == ALLOW_WITH_REASON and reason is not None:
        return None
    return _withheld(case_task_id, kind, control_grants)


async def holdout_criteria(
    conn: asyncpg.Connection,
    case_task_id: str | None,
    kind: GrantKind,
    control_grants: str,
    reason: str | None,
    criteria: Sequence[str],
) -> Refused | tuple[str, ...]:
    """When a grant is asked: the refusal as ``holdout_refusal`` gives it, or the criteria to ask with, which carry
    the control-arm reason when a withheld practice is allowed with one (its approval finds it there)."""
    if case_task_id is None or not await withheld_for_task(conn, case_task_id, PRACTICE_OF_GRANT[kind.value]):
        return tuple(criteria)
    if control_grants == ALLOW_WITH_REASON and reason is not None:
        return with_exception(criteria, reason)
    return _withheld(case_task_id, kind, control_grants)


def _withheld(case_task_id: str, kind: GrantKind, control_grants: str) -> Refused:
    also = " unless a control_arm_reason is given" if control_grants == ALLOW_WITH_REASON else ""
    return Refused(
        WITHHELD_RULE,
        f"the customer of task {case_task_id} is in the retention control arm, where a {kind.value} discount is"
        f" withheld{also}.",
    )


def with_exception(criteria: Sequence[str], reason: str) -> tuple[str, ...]:
    """The criteria with the control-arm reason last (kept with the grant: event and rows)."""
    return (*criteria[:9], f"{_EXCEPTION}{reason}"[:_MAX_CRITERION])


def recorded_reason(criteria: Sequence[str]) -> str | None:
    """The control-arm reason a pending request was asked with, if any."""
    return next((c[len(_EXCEPTION) :] for c in criteria if c.startswith(_EXCEPTION)), None)
