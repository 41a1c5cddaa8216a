"""The per-event baseline: a Faust agent that does nothing with each event, on the same broker and topic.

    python -m tools.bench.faust_baseline --bootstrap HOST:PORT --events 100000 --out result.json

Joins a fresh consumer group, reads the topic from the beginning, counts events and nothing else, and writes
{"events", "seconds", "eps", "first_event_after_start_s"} to --out when the N-th event has been seen, then
stops itself (SIGTERM, which the Faust worker handles as a normal shutdown). The rate is measured from the
first event to the N-th, so the worker's start and group join are not in it. Run as a child process of
`python -m tools.bench`, which kills it by pid if it does not finish in time.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import orjson


def build_app(bootstrap: str, topic_name: str, events: int, out: Path, app_id: str):
    import faust

    from billing.entrypoints.worker.app import faust_broker_url

    app = faust.App(
        app_id,
        broker=faust_broker_url(bootstrap),
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    started = time.perf_counter()
    state = {"seen": 0, "first": 0.0}

    @app.agent(topic, name="bench-nothing")
    async def nothing(stream):  # noqa: ANN001 - Faust's stream
        async for _value in stream:
            state["seen"] += 1
            if state["seen"] == 1:
                state["first"] = time.perf_counter()
            elif state["seen"] == events:
                seconds = time.perf_counter() - state["first"]
                out.write_bytes(  # noqa: ASYNC240 - once, when the run is over
                    orjson.dumps(
                        {
                            "events": events,
                            "seconds": seconds,
                            "eps": (events - 1) / seconds,
                            "first_event_after_start_s": state["first"] - started,
                        }
                    )
                )
                os.kill(os.getpid(), signal.SIGTERM)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", default="billing.usage.v1")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--app-id", default=f"bench-faust-baseline-{os.getpid()}")
    args = parser.parse_args(argv)

    import faust

    app = build_app(args.bootstrap, args.topic, args.events, args.out, args.app_id)
    sys.argv = [sys.argv[0]]  # the Faust worker parses the command line itself
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False, override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
