"""The desk changes API processes send each other (billing.entrypoints.api.live_peers), by hand: a process pushes
another's change to its pages once and skips its own, which it pushed when it was made."""

import orjson

from billing.entrypoints.api.live import Hub
from billing.entrypoints.api.live_peers import PeerChanges, encode, receive
from billing.entrypoints.api.metrics import ApiMetrics


def pushed(hub: Hub) -> list:
    return hub.since(f"{hub.epoch}-0") or []


def test_a_process_skips_its_own_change_and_pushes_another_process_change_once() -> None:
    a, b = Hub(), Hub()  # the hubs of two API processes
    # Sue reassigns tsk-1 from Ana to Bo through process A: A's pages got it when she did.
    made = a.publish("local", "tsk-1", None, "agt-sue", ("agt-ana", "agt-bo"))
    payload = encode("origin-a", made)
    assert receive(a, "origin-a", payload) is None  # A hears its own NOTIFY too: not pushed a second time
    assert pushed(a) == [made]
    relayed = receive(b, "origin-b", payload)
    assert relayed is not None and pushed(b) == [relayed]
    # The same change on B's pages, with B's own id (a page on B resumes with B's ids), and no account data.
    assert (relayed.type, relayed.task_id, relayed.agent_id, relayed.concerns) == (
        "local",
        "tsk-1",
        "agt-sue",
        ("agt-ana", "agt-bo"),
    )
    assert relayed.event_id == f"{b.epoch}-1" and relayed.data() == made.data()


def test_the_payload_carries_ids_only_and_an_unreadable_one_is_skipped() -> None:
    hub = Hub()
    change = orjson.loads(encode("origin-a", hub.publish("local", None, None, "agt-ana")))
    assert change == {"origin": "origin-a", "type": "local", "task_id": None, "agent_id": "agt-ana", "concerns": []}
    other = Hub()
    assert receive(other, "origin-b", "not json") is None
    assert receive(other, "origin-b", '{"type": "local"}') is None  # no origin: not one of ours
    assert receive(other, "origin-b", "[1, 2]") is None
    assert pushed(other) == []


def test_a_change_is_not_queued_by_an_app_that_is_not_serving() -> None:
    async def no_pool():
        raise AssertionError("nothing is sent")

    hub = Hub()
    peers = PeerChanges(hub, "postgresql://unused", no_pool, ApiMetrics())
    peers.tell(hub.publish("local", "tsk-1", None, "agt-ana"))  # no lifespan ran: nothing started, nothing waits
    assert peers._outgoing.empty()
