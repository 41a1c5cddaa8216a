"""The live hub by hand: resuming after a Last-Event-ID (what was missed, or None when it cannot be resumed),
the listeners, the task events read from the topic, and which frames a page gets."""

import asyncio
from types import SimpleNamespace

import orjson

from billing.entrypoints.api.desk.stream import _frames
from billing.entrypoints.api.live import Hub, _publish_record


def ids(events) -> list[int]:
    return [int(e.event_id.split("-")[1]) for e in events]


def filled(n: int, keep: int = 2000) -> Hub:
    hub = Hub(keep=keep)
    for i in range(n):
        hub.publish("local", f"tsk-{i}", None, None)
    return hub


def test_resume_returns_what_came_after_the_last_event_seen() -> None:
    hub = filled(5)
    assert ids(hub.since(f"{hub.epoch}-2") or []) == [3, 4, 5]
    assert hub.since(f"{hub.epoch}-5") == []  # up to date
    assert ids(hub.since(f"{hub.epoch}-0") or []) == [1, 2, 3, 4, 5]


def test_resume_is_refused_when_events_were_dropped_or_the_id_is_not_ours() -> None:
    hub = filled(5, keep=3)  # 3, 4, 5 kept
    assert ids(hub.since(f"{hub.epoch}-2") or []) == [3, 4, 5]  # nothing was lost after 2
    assert hub.since(f"{hub.epoch}-1") is None  # event 2 is gone: the page must reload (reset)
    assert hub.since(f"{hub.epoch}-6") is None  # from the future: another life of this process
    assert hub.since(f"{'0' * 8}-3") is None  # another process (an API restart)
    assert hub.since(f"{hub.epoch}-x") is None
    assert hub.since("garbage") is None


def test_ids_carry_the_epoch_and_a_sequence() -> None:
    hub = Hub()
    first, second = hub.publish("local", None, None, None), hub.publish("local", None, None, None)
    assert (first.event_id, second.event_id) == (f"{hub.epoch}-1", f"{hub.epoch}-2")
    assert len(hub.epoch) == 8 and int(hub.epoch, 16) >= 0  # random per process: ids of a restart never resume


async def test_listeners_get_each_event_until_they_leave() -> None:
    hub = Hub()
    queue = hub.listen()
    event = hub.publish("task.accepted.v1", "tsk-1", "billing", "agt-1")
    assert queue.get_nowait() == event
    hub.leave(queue)
    hub.publish("local", "tsk-2", None, None)
    assert queue.empty()
    await asyncio.sleep(0)


def test_task_events_from_the_topic_carry_ids_and_queue_only() -> None:
    hub = Hub()
    payload = {"task_id": "tsk-1", "queue": "billing", "agent_id": "agt-1", "account_id": "acc-secret"}
    _publish_record(hub, orjson.dumps({"type": "task.accepted.v1", "payload": payload}))
    _publish_record(hub, b"not json")  # skipped, the hub keeps going
    (event,) = hub.since(f"{hub.epoch}-0") or []
    assert (event.type, event.task_id, event.queue, event.agent_id) == ("task.accepted.v1", "tsk-1", "billing", "agt-1")
    assert "acc-secret" not in event.data()


def test_frames_reload_the_task_panel_only_for_changes_made_by_someone_else() -> None:
    hub, ana = Hub(), SimpleNamespace(agent_id="agt-ana")
    names = lambda frames: [f.split("event: ")[1].split("\n")[0] for f in frames]  # noqa: E731
    # Ana's own action (local, or the workers' event naming her): the page already shows it.
    assert names(_frames(hub.publish("local", "tsk-1", None, "agt-ana"), ana, {"tsk-1"})) == ["queues"]
    assert names(_frames(hub.publish("task.completed.v1", "tsk-1", "b", "agt-ana"), ana, set())) == ["queues"]
    # Her held task changed by someone else (a supervisor's release, a lease the sweeper ended).
    assert names(_frames(hub.publish("task.requeued.v1", "tsk-1", "b", None), ana, {"tsk-1"})) == ["queues", "mine"]
    assert names(_frames(hub.publish("local", "tsk-1", None, "agt-sue"), ana, {"tsk-1"})) == ["queues", "mine"]
    # Someone else's task: only the queue panels.
    assert names(_frames(hub.publish("task.routed.v1", "tsk-9", "b", None), ana, {"tsk-1"})) == ["queues"]
    frame = _frames(hub.publish("local", "tsk-9", None, None), ana, set())[0]
    assert frame.startswith(f"id: {hub.epoch}-") and frame.endswith("\n\n")


def test_a_reassignment_reloads_the_task_panel_of_both_agents_it_concerns() -> None:
    hub = Hub()
    ana, bo, cy = (SimpleNamespace(agent_id=a) for a in ("agt-ana", "agt-bo", "agt-cy"))
    names = lambda frames: [f.split("event: ")[1].split("\n")[0] for f in frames]  # noqa: E731
    # Sue takes tsk-1 from Ana and offers it to Bo: Bo held nothing of it, yet his task panel reloads too.
    moved = hub.publish("local", "tsk-1", None, "agt-sue", ("agt-ana", "agt-bo"))
    assert names(_frames(moved, ana, {"tsk-1"})) == ["queues", "mine"]
    assert names(_frames(moved, bo, set())) == ["queues", "mine"]
    assert names(_frames(moved, cy, set())) == ["queues"]  # nobody else's
    # Reassigned to herself (the wall's approval flow): her own action, her page shows it already.
    own = hub.publish("local", "tsk-2", None, "agt-sue", ("agt-sue",))
    assert names(_frames(own, SimpleNamespace(agent_id="agt-sue"), set())) == ["queues"]
    assert "agt-bo" not in moved.data()  # the stream carries ids of tasks and queues, never who is concerned


def test_a_reset_reloads_every_panel_and_is_replayed_to_a_page_that_missed_it() -> None:
    hub, ana = Hub(), SimpleNamespace(agent_id="agt-ana")
    hub.publish("local", "tsk-1", None, "agt-sue")
    reset = hub.reset()  # a follower lost its source for a while (the broker, the listening connection)
    assert _frames(reset, ana, {"tsk-1"}) == [f"id: {reset.event_id}\nevent: reset\ndata: {{}}\n\n"]
    assert hub.since(f"{hub.epoch}-1") == [reset]  # a page that reconnects after it still gets it
