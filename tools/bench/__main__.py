"""`python -m tools.bench` (`make bench`): the issue 3 benchmark, in one run on one embedded broker and PostgreSQL.

Opens --accounts accounts, publishes --events usage events while no worker runs, then measures
(a) raw_consume_eps: a plain aiokafka getmany loop consuming and JSON-decoding the usage topic (the ceiling);
    beside it faust_per_event_eps, a Faust agent that does nothing per event (tools/bench/faust_baseline.py);
(b) rated_eps_one_worker: one worker process rating and persisting that backlog, end to end;
(c) p99_publish_to_persisted_s: at a steady --latency-rate, publish time to the commit of the batch holding
    the event (the worker logs each batch's commit time and offset ranges: tools/bench/worklog.py);
(d) invoices_per_s: close_due_cycles closing the cycle of every account;
(e) worker_peak_rss_mb: the worker's peak resident memory (VmHWM) over the whole run.
Writes results.json and results.png (tools/bench/ by default) and prints a table against the goals.
"""

from __future__ import annotations

import argparse
import signal
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from billing.platform.runtime import tune_gc
from tools.bench.progress import say
from tools.bench.report import (
    GOAL_EPS_PER_WORKER,
    GOAL_INVOICES_PER_S,
    GOAL_P99_S,
    build_results,
    machine_info,
    markdown_table,
    validate_results,
)
from tools.bench.run import Bench, Options

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
TABLE_START, TABLE_END = "<!-- bench:figures -->", "<!-- /bench:figures -->"


def parse_options(argv: list[str] | None = None) -> tuple[Options, Path, bool]:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="usage events in the backlog")
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts opened (and invoiced)")
    parser.add_argument("--latency-rate", type=int, default=10_000, help="events/s of the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of the latency phase")
    parser.add_argument("--faust-events", type=int, default=100_000, help="events the Faust baseline reads")
    parser.add_argument("--close-batch", type=int, default=1000, help="accounts per cycle-close transaction")
    parser.add_argument(
        "--accounts-via-topic",
        action="store_true",
        help="open accounts through account.opened.v1 and the worker (slow) instead of directly",
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="rewrite the figures table of README.md's Benchmark section from this run",
    )
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where results.json and results.png go")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="broker/PostgreSQL state (default: fresh /tmp dir)"
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.accounts < 1 or args.latency_rate < 1 or args.latency_seconds <= 0:
        parser.error("--events, --accounts, --latency-rate and --latency-seconds must be positive")
    options = Options(
        args.events,
        args.accounts,
        args.latency_rate,
        args.latency_seconds,
        args.faust_events,
        args.close_batch,
        args.accounts_via_topic,
        args.state_dir,
    )
    return options, args.out_dir, args.update_readme


def table(results: dict) -> str:
    rows = [
        ("raw consume + decode (ceiling)", results["raw_consume_eps"], "events/s", "-"),
        ("rated + persisted, one worker", results["rated_eps_one_worker"], "events/s", f">= {GOAL_EPS_PER_WORKER:,}"),
        ("Faust agent, nothing per event", results.get("faust_per_event_eps"), "events/s", "-"),
        ("p99 publish -> persisted", results["p99_publish_to_persisted_s"], "s", f"< {GOAL_P99_S:g}"),
        ("cycle close", results["invoices_per_s"], "invoices/s", f">= {GOAL_INVOICES_PER_S:,}"),
        ("worker peak RSS", results["worker_peak_rss_mb"], "MB", "-"),
    ]
    lines = [f"{'figure':34} {'measured':>12} {'unit':11} goal"]
    for name, value, unit, goal in rows:
        shown = "n/a" if value is None else (f"{value:,}" if isinstance(value, int) else f"{value:,.4g}")
        lines.append(f"{name:34} {shown:>12} {unit:11} {goal}")
    return "\n".join(lines)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the Launcher, which stops everything it started


def main(argv: list[str] | None = None) -> None:
    options, out_dir, update_readme = parse_options(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    tune_gc()  # phase (d) runs the closer in this process: tuned as a worker's closer is
    outcome = Bench(options).run()
    details = {
        "faust_per_event_eps": outcome.details.pop("faust_per_event_eps", None),
        "sizes": {
            "events": options.events,
            "accounts": options.accounts,
            "accounts_via_topic": options.accounts_via_topic,
            "latency_rate": options.latency_rate,
            "latency_seconds": options.latency_seconds,
        },
        **outcome.details,
    }
    machine = machine_info(outcome.postgres, psutil.virtual_memory().total)
    results = build_results(outcome.figures, machine, datetime.now(UTC), details)
    problems = validate_results(results)
    if problems:
        raise SystemExit(f"results document is malformed: {problems}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    from tools.bench.plot import write_plot

    write_plot(results, out_dir / "results.png")
    say(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.png'}")
    print(table(results))
    if update_readme:
        replace_readme_table(README, markdown_table(results))
        say(f"updated the figures in {README}")


def replace_readme_table(readme: Path, table_text: str) -> None:
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + table_text + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
