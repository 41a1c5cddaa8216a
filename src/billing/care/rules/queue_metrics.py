"""Queue service metrics, the pure part: which counter a task event moves, event-time windows, and cells that
count each task event once however often it is delivered.

A *cell* is the QueueStats of one queue, from one source partition, over one window (or over all time), plus
what makes it replay-proof:

* ``next_offset``: every record of that source partition below this offset is already in the cell. A record
  redelivered after a crash (at-least-once: the table's changelog was written, the source offset was not
  committed) has an offset below it and is skipped. The watermark lives in the same table value as the
  counters, so both reach the changelog in one record: they cannot disagree.
* ``counted`` (window cells only): event id -> offset at which it was counted. Catches the other kind of
  duplicate: the same event published again at a new offset (the outbox re-sends after a crash between publish
  and mark). Task event ids are deterministic from (task, transition, attempt), and a re-sent event carries
  the same ``occurred_at``, so its copy lands in the same window cell and is found there.

Keys carry the source partition (``queue@partition``) because Faust writes a table update to the changelog
partition of the event being processed: a key shared by two partitions would mix their counts on restore.

Waits and handle times arrive in milliseconds and are rounded *up* to whole seconds (QueueStats counts whole
seconds so totals stay exact): a wait of 20.001 s is not "within 20 s", so service level is never overstated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from billing.care.rules.service_level import QueueStats, WaitHistogram
from billing.contracts import Event
from billing.contracts.tasks import CancelCause, TaskAccepted, TaskCancelled, TaskCompleted, TaskRouted

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Effect(StrEnum):
    ENTERED = "entered"  # task.routed: a task joined the queue
    ANSWERED = "answered"  # task.accepted: an agent took it, after waiting `seconds`
    ABANDONED = "abandoned"  # task.cancelled because the caller hung up, after waiting `seconds`
    COMPLETED = "completed"  # task.completed, handled for `seconds`


@dataclass(frozen=True)
class Contribution:
    queue: str
    effect: Effect
    seconds: int
    occurred_at: datetime


def seconds_up(milliseconds: int) -> int:
    return -(-milliseconds // 1000)


def contribution_of(event: Event) -> Contribution | None:
    """What a task event adds to its queue's statistics; None for events that move no counter.

    Requeues (rejected, lease expired, widened, timed out, released, reassigned) move none: the task is still
    the same wait in the same queue, and its answer or abandon is counted when it happens; so is a second answer
    of a task that went back after an agent had it (`answered_before`): the caller's wait ended at the first.
    Cancellations other than a caller hanging up (account closed, superseded) are not abandons.
    """
    p = event.payload
    found: tuple[str, Effect, int] | None = None
    if isinstance(p, TaskRouted):
        found = (p.queue, Effect.ENTERED, 0)
    elif isinstance(p, TaskAccepted) and not p.answered_before:
        found = (p.queue, Effect.ANSWERED, seconds_up(p.waited_ms))
    elif isinstance(p, TaskCompleted):
        found = (p.queue, Effect.COMPLETED, seconds_up(p.handle_ms))
    elif isinstance(p, TaskCancelled) and p.cause == CancelCause.CALLER_ABANDONED:
        found = (p.queue, Effect.ABANDONED, seconds_up(p.waited_ms))
    if found is None:
        return None
    queue, effect, seconds = found
    return Contribution(queue=queue, effect=effect, seconds=seconds, occurred_at=event.occurred_at)


def record(stats: QueueStats, contribution: Contribution) -> QueueStats:
    recorders = {
        Effect.ENTERED: lambda: stats.record_entered(),
        Effect.ANSWERED: lambda: stats.record_answered(contribution.seconds),
        Effect.ABANDONED: lambda: stats.record_abandoned(contribution.seconds),
        Effect.COMPLETED: lambda: stats.record_completed(contribution.seconds),
    }
    return recorders[contribution.effect]()


# --- windows (event time) ---------------------------------------------------------------------------------


def window_start(moment: datetime, size_s: int) -> datetime:
    """Start of the tumbling window holding `moment`, aligned on the epoch like Faust's tumbling windows."""
    seconds = math.floor((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % size_s)


def is_retained(start: datetime, size_s: int, now: datetime, retention_s: int) -> bool:
    """Whether the window starting at `start` is still kept (Faust drops windows ending `retention_s` before
    the wall clock). One second of margin so that we never write into a window Faust may already have dropped:
    a later write would restart it from zero and overwrite its published counts."""
    end = start + timedelta(seconds=size_s)
    return end - timedelta(seconds=1) > now - timedelta(seconds=retention_s)


def cell_key(queue: str, partition: int) -> str:
    return f"{queue}@{partition}"


def queue_of_key(key: str) -> tuple[str, int]:
    queue, _, partition = key.rpartition("@")
    return queue, int(partition)


# --- cells -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    stats: QueueStats = field(default_factory=QueueStats.empty)
    next_offset: int = 0
    counted: Mapping[str, int] = field(default_factory=dict)

    def first_sighting(self, event_id: str, offset: int) -> bool:
        """True unless this event was already counted from another offset (a re-sent copy)."""
        seen = self.counted.get(event_id)
        return seen is None or seen == offset

    def apply(self, contribution: Contribution, event_id: str, offset: int, track_ids: bool) -> Cell | None:
        """The cell with this event added, or None when the record at `offset` is already in it."""
        if offset < self.next_offset:
            return None
        counted = {**self.counted, event_id: offset} if track_ids else self.counted
        return Cell(stats=record(self.stats, contribution), next_offset=offset + 1, counted=counted)


@dataclass(frozen=True)
class CellUpdate:
    window: Cell | None  # new value of the window cell, None if unchanged
    total: Cell | None  # new value of the all-time cell, None if unchanged


def decide(window: Cell | None, total: Cell, contribution: Contribution, event_id: str, offset: int) -> CellUpdate:
    """Count one task event in its window cell (None when that window is past retention) and in the all-time
    cell, each at most once.

    The window cell decides whether the event is new at all (its `counted` ids); each cell then checks its own
    watermark, so a crash between writing the two cells is repaired by the replay: the one already written
    skips, the other catches up. An event too late for any retained window is counted in the total only,
    protected against replays but not against a re-sent copy (both copies would be that late).
    """
    if window is not None and not window.first_sighting(event_id, offset):
        return CellUpdate(None, None)
    new_window = window.apply(contribution, event_id, offset, track_ids=True) if window is not None else None
    return CellUpdate(new_window, total.apply(contribution, event_id, offset, track_ids=False))


# --- (de)serialisation: table values and PostgreSQL rows are plain JSON ------------------------------------


def stats_to_state(stats: QueueStats) -> dict[str, Any]:
    return {
        "entered": stats.entered,
        "answered": stats.answered,
        "abandoned": stats.abandoned,
        "completed": stats.completed,
        "total_answer_wait_s": stats.total_answer_wait_s,
        "total_handle_s": stats.total_handle_s,
        "edges_s": stats.answer_wait.to_dict()["edges_s"],
        "answer_wait": list(stats.answer_wait.counts),
        "abandon_wait": list(stats.abandon_wait.counts),
    }


def stats_from_state(state: Mapping[str, Any]) -> QueueStats:
    edges = tuple(math.inf if edge == "inf" else edge for edge in state["edges_s"])
    return QueueStats(
        entered=state["entered"],
        answered=state["answered"],
        abandoned=state["abandoned"],
        completed=state["completed"],
        total_answer_wait_s=state["total_answer_wait_s"],
        total_handle_s=state["total_handle_s"],
        answer_wait=WaitHistogram(edges_s=edges, counts=tuple(state["answer_wait"])),
        abandon_wait=WaitHistogram(edges_s=edges, counts=tuple(state["abandon_wait"])),
    )


def cell_to_state(cell: Cell) -> dict[str, Any]:
    return {"stats": stats_to_state(cell.stats), "next_offset": cell.next_offset, "counted": dict(cell.counted)}


def cell_from_state(state: Mapping[str, Any] | None) -> Cell:
    if not state:
        return Cell()
    return Cell(
        stats=stats_from_state(state["stats"]),
        next_offset=state["next_offset"],
        counted=dict(state.get("counted", {})),
    )
