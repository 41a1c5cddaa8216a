"""Property tests for the invariants the care core promises."""

from care_test_factories import T0, at, facts
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.care.rules.priority import PriorityWeights, explain_priority, priority
from billing.care.rules.routing_rules import AccountFacts, Route
from billing.care.rules.service_level import QueueStats, WaitHistogram
from billing.care.rules.task_states import (
    Task,
    TaskState,
    TaskTransitionError,
    accept,
    claim,
    complete,
    expire_if_due,
    reject,
)

# --- a task is never held by two agents -------------------------------------

AGENTS = ("ann", "bob", "cat")
ACTIONS = ("claim", "claim", "reject", "expire", "accept", "complete")
steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from(AGENTS), st.integers(0, 25)),
    min_size=1,
    max_size=60,
)

_APPLY = {
    "claim": lambda task, agent, now, lease: claim(task, agent, now, lease),
    "reject": lambda task, agent, now, lease: reject(task, agent, now),
    "expire": lambda task, agent, now, lease: expire_if_due(task, now),
    "accept": lambda task, agent, now, lease: accept(task, agent, now),
    "complete": lambda task, agent, now, lease: complete(task, "resolved", now),
}


def _held_by_other(task: Task, agent: str, now) -> bool:
    """An independent statement of the rule: someone else's offer or work is still live."""
    live_offer = task.state is TaskState.RESERVED and now < task.lease_until
    working = task.state in (TaskState.ACCEPTED, TaskState.WRAPPING)
    return (live_offer or working) and task.agent_id != agent


@settings(max_examples=400)
@given(steps=steps, lease_s=st.integers(1, 30))
def test_a_claim_never_succeeds_while_another_agent_holds_the_task(steps, lease_s) -> None:
    task, elapsed = Task("t-1", "billing", 10, T0), 0
    for action, agent, gap in steps:  # gap may be 0 to hit lease boundaries exactly
        elapsed += gap
        now = at(elapsed)
        held_by_other = _held_by_other(task, agent, now)
        try:
            after = _APPLY[action](task, agent, now, lease_s)
        except TaskTransitionError:
            continue
        if action == "claim":
            assert not held_by_other, f"{agent} claimed while {task.agent_id} held it until {task.lease_until}"
            assert (after.agent_id, after.state) == (agent, TaskState.RESERVED)
        if action in ("accept", "reject"):
            assert task.agent_id == agent
        # At most one agent is ever named, and only while the task is held.
        held = after.state in (TaskState.RESERVED, TaskState.ACCEPTED, TaskState.WRAPPING)
        assert (after.agent_id is not None) == held or after.state is TaskState.COMPLETED
        task = after


# --- priority never drops as a task waits longer ----------------------------

bands = st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 50)), max_size=4).map(
    lambda pairs: tuple(zip(sorted({t for t, _ in pairs}), sorted(p for _, p in pairs)))
)
weights = st.builds(
    PriorityWeights,
    customer_value_bands=bands,
    tenure_bands=bands,
    disputed_amount_bands=bands,
    cancellation_intent_points=st.integers(0, 50),
    repeat_call_points=st.integers(0, 20),
    repeat_call_cap=st.integers(0, 60),
    open_dispute_points=st.integers(0, 20),
    open_dispute_cap=st.integers(0, 60),
    aging_step_seconds=st.integers(1, 120),
    aging_cap=st.integers(0, 200),
)
accounts = st.builds(
    AccountFacts,
    account_id=st.just("acc"),
    average_invoice_minor=st.none() | st.integers(0, 200_000),
    tenure_days=st.integers(0, 5_000),
    open_disputes=st.integers(0, 10),
    disputed_amount_minor=st.integers(0, 200_000),
    repeat_calls_same_invoice_30d=st.integers(0, 10),
    cancellation_intent=st.booleans(),
)
# Mostly short waits, where the aging steps are; some negative for clock skew.
waits = st.integers(-120, 3_000) | st.floats(-120, 100_000, allow_nan=False)


@given(account=accounts, weights=weights, base=st.integers(-100, 100), first=waits, second=waits)
@example(account=facts(), weights=PriorityWeights(), base=0, first=-60, second=0)  # clock skew
def test_priority_is_non_decreasing_in_wait_time(account, weights, base, first, second) -> None:
    route = Route("billing", base, "r")
    shorter, longer = sorted((first, second))
    assert priority(route, account, shorter, weights) <= priority(route, account, longer, weights)
    assert sum(points for _, points in explain_priority(route, account, longer, weights)) == priority(
        route, account, longer, weights
    )


# --- histograms and stats merge like counters --------------------------------

wait_lists = st.lists(st.integers(0, 1_000) | st.floats(0, 1_000, allow_nan=False), max_size=30)


def _histogram(waits_s) -> WaitHistogram:
    histogram = WaitHistogram.empty()
    for wait in waits_s:
        histogram = histogram.add(wait)
    return histogram


@given(a=wait_lists, b=wait_lists, c=wait_lists, threshold=st.sampled_from((0, 5, 20, 60, 600)))
def test_histogram_merge_is_associative_and_counts_sum(a, b, c, threshold) -> None:
    ha, hb, hc = _histogram(a), _histogram(b), _histogram(c)
    assert ha.merge(hb).merge(hc) == ha.merge(hb.merge(hc))
    merged = ha.merge(hb).merge(hc)
    assert merged == _histogram(a + b + c)
    assert merged.total == len(a) + len(b) + len(c)
    # At an edge the count is exact, so it must equal a direct count of the waits.
    assert merged.count_within(threshold) == sum(1 for w in a + b + c if w <= threshold)


events = st.lists(
    st.tuples(st.sampled_from(("enter", "answer", "abandon", "complete")), st.integers(0, 900)),
    max_size=30,
)
_RECORD = {
    "enter": lambda stats, seconds: stats.record_entered(),
    "answer": lambda stats, seconds: stats.record_answered(seconds),
    "abandon": lambda stats, seconds: stats.record_abandoned(seconds),
    "complete": lambda stats, seconds: stats.record_completed(seconds),
}


def _stats(window) -> QueueStats:
    stats = QueueStats()
    for kind, seconds in window:
        stats = _RECORD[kind](stats, seconds)
    return stats


@given(a=events, b=events, c=events)
def test_windowed_stats_merge_is_associative_and_equals_one_window(a, b, c) -> None:
    sa, sb, sc = _stats(a), _stats(b), _stats(c)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc)) == _stats(a + b + c)
