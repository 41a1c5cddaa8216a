"""A process whose output is its log (a worker, the agent API) writes one JSON object per line, whatever writes:
its own loggers, the frameworks' loggers, Python warnings, a stray print, an uncaught exception in any thread."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a worker does first (src/billing/entrypoints/worker/run.py), then every kind of output that once bypassed the JSON renderer.
PROCESS = r"""
import logging, sys, threading, warnings
from billing.platform.logs import configure_logging, get_logger, route_process_output

configure_logging("INFO", "json")
route_process_output()
get_logger("billing.worker").info("structlog line", worker=0)
logging.getLogger("faust.worker").warning("a framework's warning")
warnings.warn("a library's deprecation", DeprecationWarning)
print("a stray print")
print("two lines\nat once", file=sys.stderr)
sys.stdout.write("\b\x1b[?25h")  # what Faust's spinner wrote into the log at start-up
print("after the escape")
thread = threading.Thread(target=lambda: 1 / 0, name="helper")
thread.start()
thread.join()
raise RuntimeError("the end")
"""


def test_every_line_a_process_writes_is_one_json_object() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", PROCESS], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    records = []
    for line in (result.stdout + result.stderr).splitlines():
        record = json.loads(line)  # raises on any line that is not JSON
        assert isinstance(record, dict), line
        records.append(record)
    events = [r["event"] for r in records]
    assert "structlog line" in events and "a framework's warning" in events
    assert any("a library's deprecation" in e for e in events if isinstance(e, str))
    assert {"a stray print", "two lines", "at once"} <= set(events)
    assert "\b\x1b[?25hafter the escape" in events  # inside a JSON string, escaped, not raw in the log
    uncaught = [r for r in records if r["logger"] == "uncaught"]
    assert len(uncaught) == 2 and "ZeroDivisionError" in uncaught[0]["exception"]
    assert "RuntimeError: the end" in uncaught[1]["exception"]
