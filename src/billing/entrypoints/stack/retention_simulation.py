"""`billing simulate retention`: a customer population with a KNOWN effect per practice, through the real topics.

Every account opens, calls once, waits for an agent (some hang up first), and is handled with one practice.
A deterministic hash of the account (src/billing/retention/rules/arms.py, the same the queue store uses) puts a share
of eligible cases in the control arm, where the practice is withheld: no discount, no money. Whether the
customer is still a customer 90 days after the case is drawn with probability

    BASE_RETENTION - wait penalty (up to 15 points for long waits) + TRUE_EFFECTS[practice] (treatment only)

so the true uplift of each practice in 90-day retention is exactly its TRUE_EFFECTS entry: one helps a lot,
one helps less, one does nothing and one hurts. Churners close their account at a uniform time within the
90 days. Events are published in event-time order: account.opened, call.started, call.answered or
call.abandoned, task.completed (as an agent tool completing the task would produce it), account.closed;
then one account.plan_changed per partition, 92 days after the last case, moves every partition's
event-time clock past the last horizon.

The simulation lives in its own era of event time (from 2031 by default): a partition's retention clock only
moves forward, so a population fed after events of a LATER time would see its horizons decided before its
closures arrive. Its cases are therefore reported as a cohort, ``Simulation.case_period()``
(`billing report retention --cases-from/--cases-to`), apart from every other case in the same database.

Its cases are also one experiment period of their own: the simulation's analysis plan (``SimulationConfig.plan``,
read from a plan file like RETENTION_PLAN) with its holdout share, registered by ``register`` before the cases and
named on every task.completed, so the report judges them by the plan sized for this population.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2

from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountClosed, AccountOpened, AccountPlanChanged, ClosureReason, Contact
from billing.contracts.calls import CallAbandoned, CallAnswered, CallChannel, CallReason, CallStarted
from billing.contracts.tasks import TaskCompleted
from billing.entrypoints.stack.loadgen import Record, publish, record_of
from billing.retention.plan_config import Experiment
from billing.retention.rules.arms import assign_arm
from billing.retention.rules.plan import DEFAULT_PLAN, AnalysisPlan, with_share

BASE_RETENTION = 0.62
TRUE_EFFECTS: dict[str, float] = {
    "discount_percent": 0.25,  # 15 % off three invoices: helps a lot
    "credit": 0.12,  # a goodwill credit: helps
    "discount_fixed": 0.0,  # a small fixed discount: does nothing
    "plan_change": -0.20,  # pushing a plan change: hurts
}
OFFER_MINOR = {"discount_percent": 1349, "credit": 1000, "discount_fixed": 500, "plan_change": 0}
NOT_ELIGIBLE_SHARE = 0.08  # plain questions: no offer possible, followed but not compared
SOURCE = "sim/retention"


@dataclass(frozen=True)
class SimulationConfig:
    accounts: int = 4000
    seed: int = 2026
    holdout_share_bp: int = 1000
    # The simulation's own pre-registered analysis plan (from a plan file, as RETENTION_PLAN gives the system
    # its plan), registered before its cases by ``register``: its cases are one period, judged by it.
    plan: AnalysisPlan = DEFAULT_PLAN

    @property
    def experiment(self) -> Experiment:
        return Experiment(with_share(self.plan, self.holdout_share_bp), self.holdout_share_bp)

    partitions: int = 4
    duplicate_share: float = 0.05  # cases and closures published twice, as an at-least-once producer may
    start: datetime = datetime(2031, 1, 1, tzinfo=UTC)  # after the event times of the demo and the tests


@dataclass
class Simulation:
    events: list[ev.Event] = field(default_factory=list)
    case_prefix: str = ""  # every case id of this simulation starts with it
    experiment: Experiment | None = None  # the period its cases are in
    cases: int = 0  # task.completed events (handled cases)
    compared_cases: dict[str, dict[str, int]] = field(default_factory=dict)  # practice -> arm -> count

    def case_period(self) -> tuple[datetime, datetime]:
        """[first case, last case] as a half-open period: the cohort of exactly this simulation's cases."""
        times = [e.occurred_at for e in self.events if e.type == "task.completed.v1"]
        return min(times), max(times) + timedelta(microseconds=1)


def _meta(event_id: str, at: datetime) -> dict[str, object]:
    return {"event_id": event_id, "source": SOURCE, "occurred_at": at, "schema_version": 1}


def partition_of(account_id: str, partitions: int) -> int:
    """The partition the default Kafka partitioner (murmur2 of the key) gives this account."""
    return (murmur2(account_id.encode()) & 0x7FFFFFFF) % partitions


def wait_penalty(wait_s: float) -> float:
    return min(0.15, 0.15 * wait_s / 600)


def simulate(config: SimulationConfig) -> Simulation:
    rng = random.Random(config.seed)
    sim = Simulation(case_prefix=f"sim-{config.seed}-", experiment=config.experiment)
    survivors: dict[int, str] = {}
    for index in range(config.accounts):
        account_id = f"sim-{config.seed}-{index:06d}"
        if _journey(sim, rng, config, account_id, index):
            survivors.setdefault(partition_of(account_id, config.partitions), account_id)
    _clock_ticks(sim, survivors)
    sim.events.sort(key=lambda e: e.occurred_at)
    sim.events = _with_duplicates(sim.events, random.Random(config.seed + 1), config.duplicate_share)
    return sim


def _with_duplicates(events: list[ev.Event], rng: random.Random, share: float) -> list[ev.Event]:
    doubled: list[ev.Event] = []
    for event in events:
        doubled.append(event)
        if event.type in ("task.completed.v1", "account.closed.v1") and rng.random() < share:
            doubled.append(event)  # same event id: must change nothing
    return doubled


def _journey(sim: Simulation, rng: random.Random, config: SimulationConfig, account_id: str, index: int) -> bool:
    """One customer's events; True if the customer is still a customer at the end."""
    opened = config.start + timedelta(seconds=rng.randint(0, 120 * 86400))
    sim.events.append(
        ev.AccountOpenedEvent(
            **_meta(f"{account_id}-open", opened),
            type="account.opened.v1",
            payload=AccountOpened(
                account_id=account_id,
                plan_id="mobile-s" if index % 3 else "mobile-l",
                billing_anchor_day=1 + index % 28,
                currency="EUR",
                jurisdiction="DE",
                contact=Contact(name=f"Customer {index}"),
                opened_at=opened,
            ),
        )
    )
    called = opened + timedelta(seconds=rng.randint(3 * 86400, 60 * 86400))
    call_id = f"{account_id}-call"
    reason = rng.choice((CallReason.BILL_QUESTION, CallReason.CANCELLATION_INTENT, CallReason.DISPUTE))
    sim.events.append(
        ev.CallStartedEvent(
            **_meta(f"{call_id}-started", called),
            type="call.started.v1",
            payload=CallStarted(account_id=account_id, call_id=call_id, reason=reason, channel=CallChannel.PHONE),
        )
    )
    wait_s = min(900, int(rng.lognormvariate(3.8, 0.9)))  # median about 45 s
    patience_s = rng.expovariate(1 / 500)
    if wait_s > patience_s:
        gone = called + timedelta(seconds=patience_s)
        sim.events.append(
            ev.CallAbandonedEvent(
                **_meta(f"{call_id}-abandoned", gone),
                type="call.abandoned.v1",
                payload=CallAbandoned(account_id=account_id, call_id=call_id),
            )
        )
        return _maybe_close(sim, rng, account_id, gone, BASE_RETENTION - 0.15)
    return _handled_case(sim, rng, config, account_id, call_id, called, wait_s)


def _handled_case(
    sim: Simulation,
    rng: random.Random,
    config: SimulationConfig,
    account_id: str,
    call_id: str,
    called: datetime,
    wait_s: int,
) -> bool:
    answered = called + timedelta(seconds=wait_s)
    sim.events.append(
        ev.CallAnsweredEvent(
            **_meta(f"{call_id}-answered", answered),
            type="call.answered.v1",
            payload=CallAnswered(account_id=account_id, call_id=call_id, agent_id="agent-sim"),
        )
    )
    if rng.random() < NOT_ELIGIBLE_SHARE:
        practice, arm, effect = "explanation_only", "not_eligible", 0.0
    else:
        practice = rng.choice(sorted(TRUE_EFFECTS))
        arm = assign_arm(account_id, config.holdout_share_bp).value
        effect = TRUE_EFFECTS[practice] if arm == "treatment" else 0.0
        sim.compared_cases.setdefault(practice, {}).setdefault(arm, 0)
        sim.compared_cases[practice][arm] += 1
    handle_s = rng.randint(120, 900)
    done = answered + timedelta(seconds=handle_s)
    sim.events.append(
        ev.TaskCompletedEvent(
            **_meta(f"{account_id}-task-completed", done),
            type="task.completed.v1",
            payload=TaskCompleted(
                task_id=f"{account_id}-task",
                account_id=account_id,
                queue="retention",
                agent_id="agent-sim",
                agent_tier=1,
                kind="call",
                outcome="resolved",
                practice=practice,
                arm=arm,
                discount_minor=OFFER_MINOR.get(practice, 0) if arm == "treatment" else 0,
                currency="EUR",
                waited_ms=wait_s * 1000,
                handle_ms=handle_s * 1000,
                opened_at=called,
                period=config.experiment.period,
            ),
        )
    )
    sim.cases += 1
    return _maybe_close(sim, rng, account_id, done, BASE_RETENTION - wait_penalty(wait_s) + effect)


def _maybe_close(sim: Simulation, rng: random.Random, account_id: str, after: datetime, keep: float) -> bool:
    if rng.random() < keep:
        return True
    closed = after + timedelta(seconds=rng.randint(60, 90 * 86400 - 60))
    sim.events.append(
        ev.AccountClosedEvent(
            **_meta(f"{account_id}-closed", closed),
            type="account.closed.v1",
            payload=AccountClosed(account_id=account_id, closed_at=closed, reason=ClosureReason.VOLUNTARY),
        )
    )
    return False


def _clock_ticks(sim: Simulation, survivors: dict[int, str]) -> None:
    end = max(e.occurred_at for e in sim.events) + timedelta(days=92)
    for partition, account_id in sorted(survivors.items()):
        sim.events.append(
            ev.AccountPlanChangedEvent(
                **_meta(f"{account_id}-tick-{partition}", end),
                type="account.plan_changed.v1",
                payload=AccountPlanChanged(account_id=account_id, plan_id="mobile-l", effective_at=end),
            )
        )


async def register(pool, sim: Simulation) -> None:
    """Register the simulation's plan and period, as routing does for the system's own period, before its cases."""
    from billing.retention.experiment import register_period

    if sim.experiment is None:
        return
    first, _ = sim.case_period()
    async with pool.acquire() as conn:
        await register_period(conn, sim.experiment, first)


async def feed(bootstrap: str, sim: Simulation, progress: Callable[[str], None] = lambda _: None) -> int:
    total = len(sim.events)
    sent = 0

    def on_sent(count: int) -> None:
        nonlocal sent
        sent += count
        progress(f"published {sent:,} / {total:,} events")

    records: list[Record] = [record_of(event) for event in sim.events]
    return await publish(bootstrap, records, on_sent)


async def wait_until_followed(
    pool, sim: Simulation, timeout_s: float = 600, progress: Callable[[str], None] = lambda _: None
) -> dict[str, int]:
    """Until every case has all three horizons resolved (or the timeout): the progress figures."""
    from billing.retention.queries import followed_cases

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with pool.acquire() as conn:
            figures = await followed_cases(conn, sim.case_prefix)
        progress(f"cases followed {figures['cases']:,} / {sim.cases:,}, fully resolved {figures['finished']:,}")
        if figures["finished"] >= sim.cases or asyncio.get_running_loop().time() > deadline:
            return figures
        await asyncio.sleep(1.0)
