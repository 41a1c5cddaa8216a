"""The benchmark's pure parts: percentiles, the results document, the canonical usage bytes, the worker-log
reading that dates each event's persistence, and the run's options. Nothing here is timed."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.contracts import parse_event
from billing.usage.fast_decode import fast_usage
from tools.bench.__main__ import parse_options, table
from tools.bench.events import UsageGenerator, account_ids, latency_event_id, published_us_of
from tools.bench.memory import status_kib
from tools.bench.report import REQUIRED_KEYS, build_results, machine_info, percentile, summarize, validate_results
from tools.bench.run import last_full_month
from tools.bench.worklog import BatchMark, parse_marks, persisted_times, steady_rate

FIGURES = {
    "raw_consume_eps": 150_000,
    "rated_eps_one_worker": 60_000,
    "p99_publish_to_persisted_s": 0.4,
    "invoices_per_s": 6_000,
    "worker_peak_rss_mb": 180.5,
}
WHEN = datetime(2026, 11, 23, 15, 50, tzinfo=UTC)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10, 20, 30, 40, 50]
    # rank = (5 - 1) * q / 100: q=50 -> rank 2 -> 30; q=90 -> rank 3.6 -> 40 + 0.6 * 10 = 46; q=99 -> 3.96 -> 49.6
    assert percentile(values, 50) == 30
    assert percentile(values, 90) == pytest.approx(46)
    assert percentile(values, 99) == pytest.approx(49.6)
    assert percentile(list(reversed(values)), 0) == 10 and percentile(values, 100) == 50


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.floats(0, 100), st.floats(0, 100))
def test_percentile_stays_within_the_sample_and_grows_with_q(values, q1, q2) -> None:
    low, high = sorted((q1, q2))
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)


def test_percentile_refuses_no_values_and_bad_q() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_one_to_hundred() -> None:
    summary = summarize([float(v) for v in range(1, 101)])
    # rank for p99 = 99 * 0.99 = 98.01 -> 99 + 0.01 * 1 = 99.01; mean of 1..100 = 50.5
    assert summary["count"] == 100 and summary["mean"] == 50.5 and summary["p99"] == pytest.approx(99.01)
    assert summarize([]) == {"count": 0}


def test_results_document_has_the_issue_keys_first_and_validates() -> None:
    machine = machine_info("15.18", 8 * 2**30)
    document = build_results(FIGURES, machine, WHEN, {"faust_per_event_eps": 5_500})
    assert tuple(document)[: len(REQUIRED_KEYS)] == REQUIRED_KEYS
    assert document["date"] == "2026-11-23T15:50:00+00:00" and document["machine"]["memory_gb"] == 8.0
    assert validate_results(document) == []


def test_malformed_results_are_reported() -> None:
    document = build_results({**FIGURES, "invoices_per_s": "fast"}, {"cpu": "x"}, WHEN.replace(tzinfo=None), {})
    del document["worker_peak_rss_mb"]
    problems = validate_results(document)
    assert "missing key worker_peak_rss_mb" in problems
    assert "invoices_per_s must be a number or null, got str" in problems
    assert "machine.cores missing" in problems and "date must carry a time zone" in problems
    with pytest.raises(ValueError):
        build_results(FIGURES, {}, WHEN, {"date": "overwrites"})


def test_generated_usage_is_canonical_for_the_fast_path_and_valid_for_the_schema() -> None:
    generator = UsageGenerator(account_ids(50), datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    for key, value in generator.stream(300, "use"):
        usage = fast_usage(value)
        event = parse_event(value)
        assert usage is not None and usage.event_id == event.event_id and key == usage.account_id.encode()
        assert datetime(2026, 10, 1, tzinfo=UTC) < usage.started_at < datetime(2026, 11, 1, tzinfo=UTC)


def test_latency_ids_carry_their_publish_time() -> None:
    event_id = latency_event_id(42, 1_795_443_363_815_952)
    assert event_id == "lat-00000042-1795443363815952" and published_us_of(event_id) == 1_795_443_363_815_952
    with pytest.raises(ValueError):
        published_us_of("use-00000001-5")


BATCH_LINE = (
    '\x1b[?25h{"received": 3, "rated": 2, "duplicates": 1, "persisted_at": 100.5, '
    '"ranges": {"billing.usage.v1:0": [10, 12], "billing.usage.v1:3": [7, 8]}, '
    '"event": "usage batch applied", "level": "info"}'
)


def test_batch_lines_are_read_even_behind_a_terminal_escape_and_other_lines_skipped() -> None:
    lines = [BATCH_LINE, '{"event": "usage batch applied"}', "not json usage batch applied", '{"event": "other"}']
    assert parse_marks(lines) == [BatchMark(100.5, 3, 2, {0: (10, 12), 3: (7, 8)})]


def test_each_position_gets_the_earliest_commit_of_a_batch_holding_it() -> None:
    marks = [
        BatchMark(10.0, 4, 4, {0: (0, 2), 1: (0, 2)}),
        BatchMark(11.0, 2, 2, {0: (2, 4)}),
        BatchMark(12.5, 3, 1, {0: (1, 4)}),  # a replay after a rebalance covers 1..3 again, later
    ]
    # (0,1) first committed at 10.0; (0,3) at 11.0; (1,1) at 10.0; (1,2) never; (2,0) unknown partition.
    assert persisted_times(marks, [(0, 1), (0, 3), (1, 1), (1, 2), (2, 0)]) == [10.0, 11.0, 10.0, None, None]


def test_steady_rate_leaves_out_the_first_batch() -> None:
    marks = [BatchMark(12.0, 5000, 5000, {}), BatchMark(10.0, 5000, 4000, {}), BatchMark(11.0, 5000, 5000, {})]
    # Ordered by commit: 10.0 (left out), 11.0 and 12.0 rate 10,000 events in 2 s = 5,000/s.
    assert steady_rate(marks) == 5000
    assert steady_rate(marks[:1]) is None


def test_peak_rss_field_is_read_in_kib() -> None:
    status = "Name:\tpython\nVmPeak:\t  400000 kB\nVmHWM:\t  183296 kB\nVmRSS:\t  150000 kB\n"
    assert status_kib(status, "VmHWM") == 183_296 and status_kib(status, "VmSwap") is None


def test_usage_period_is_the_last_full_month() -> None:
    assert last_full_month(datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert last_full_month(datetime(2027, 1, 1, 0, 5, tzinfo=UTC))[0] == datetime(2026, 12, 1, tzinfo=UTC)


def test_options_default_to_the_issue_sizes_and_refuse_nonsense() -> None:
    options, out_dir, update_readme = parse_options([])
    assert (options.events, options.accounts, options.latency_rate) == (1_000_000, 100_000, 10_000)
    assert out_dir.name == "bench" and not update_readme
    small, _, _ = parse_options(["--events", "100000", "--accounts", "10000"])
    assert (small.events, small.accounts) == (100_000, 10_000)
    with pytest.raises(SystemExit):
        parse_options(["--events", "0"])


def test_table_marks_a_figure_not_measured() -> None:
    text = table({**FIGURES, "invoices_per_s": None, "faust_per_event_eps": 5500})
    assert "n/a" in text.splitlines()[5] and "60,000" in text.splitlines()[2]


def test_readme_table_says_which_goals_were_met() -> None:
    from tools.bench.report import markdown_table

    document = build_results(
        {**FIGURES, "rated_eps_one_worker": 42_000, "invoices_per_s": None},
        machine_info("15.18", 8 * 2**30),
        WHEN,
        {"faust_per_event_eps": 5_500},
    )
    lines = markdown_table(document).splitlines()
    assert lines[3] == "| rated and persisted, one worker process | 42,000 | events/s | >= 50,000 | missed |"
    assert lines[5] == "| p99 publish to persisted at 10,000 events/s | 0.400 | s | < 1 | met |"
    assert lines[6] == "| cycle close, 100,000 accounts | not measured | invoices/s | >= 5,000 |  |"


def test_the_usage_consumers_batch_log_line_is_what_the_benchmark_reads() -> None:
    import io

    from billing.platform.context import WorkerContext
    from billing.platform.decoding import RawMessage
    from billing.platform.logs import configure_logging
    from billing.platform.settings import load_settings
    from billing.usage.batch import prepare
    from billing.usage.consumer import UsageConsumer
    from billing.usage.writer import ApplyResult

    generator = UsageGenerator(account_ids(3), datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    # Offsets 40..45, alternating partitions 2 and 5: partition 2 holds 40, 42, 44 and partition 5 holds 41, 43, 45.
    messages = [
        RawMessage("billing.usage.v1", 2 + 3 * (n % 2), 40 + n, key, value)
        for n, (key, value) in enumerate(generator.stream(6, "log"))
    ]
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    try:
        consumer = UsageConsumer(WorkerContext(load_settings()), writer=None)  # type: ignore[arg-type]
        consumer._observe(
            prepare(messages),
            ApplyResult(inserted=6),
            persisted_at=1_795_443_363.5,
            timing={"store_ms": 12.5, "commit_ms": 1.0},
        )
    finally:
        configure_logging("INFO", "json")  # back to stderr for whatever runs next
    (line,) = out.getvalue().splitlines()
    assert (orjson.loads(line)["store_ms"], orjson.loads(line)["commit_ms"]) == (12.5, 1.0)
    (mark,) = parse_marks([line])
    assert mark == BatchMark(1_795_443_363.5, 6, 6, {2: (40, 45), 5: (41, 46)})
