"""The fleet's figures as text: a dash or "no samples" rather than NaN, and no Python
structures in the result line or report.md."""

from __future__ import annotations

from loadtest.measure import percentile
from loadtest.report import cell, markdown
from loadtest.results import distribution, scenario_ack_lags
from loadtest.summary import latency_text, ms, result_line

EMPTY = distribution([])
REPORT = {
    "scenario": "steady",
    "parameters": {"devices": 2, "url": "spawned caresync serve (SQLite)"},
    "changes_sent": 0,
    "deliveries": 0,
    "latency_ms": EMPTY,
    "lost_changes": 0,
    "applied_twice": 0,
    "close_codes": {"1006": 2},
    "mismatch_alerts": 0,
    "ack_lag_ms": EMPTY | {"devices_acked_behind_head": 0},
    "slow_devices_note": None,
}


def test_no_samples_is_a_dash_never_nan() -> None:
    assert percentile([], 99) is None
    assert EMPTY == {"p50": None, "p95": None, "p99": None, "max": None, "samples": 0}
    assert ms(None) == "\u2013"
    assert ms(12.345) == "12.3 ms"
    assert latency_text(EMPTY) == "latency: no samples"


def test_the_result_line_is_text() -> None:
    line = result_line(REPORT)
    assert line == (
        "0 changes, 0 deliveries; latency: no samples; ack lag: no samples; lost 0; applied twice 0; alerts 0"
    )
    full = distribution([1.0, 2.0, 3.0])
    assert latency_text(full) == "latency p50 2.0 ms, p95 3.0 ms, p99 3.0 ms, max 3.0 ms (3 samples)"


def test_report_md_shows_json_and_dashes_not_reprs() -> None:
    text = markdown(REPORT)
    assert "{'" not in text and "nan" not in text.lower()
    assert '| close_codes | `{"1006": 2}` |' in text
    assert "| push latency p99 (ms) | \u2013 |" in text
    assert cell(None) == "\u2013"


def test_ack_lag_counts_only_changes_made_by_the_scenario() -> None:
    """A device whose carer got no change in the run last acknowledged a seeded change,
    stamped a minute before seeding: its "lag" is not the server's (62 s in a 35 s run)."""
    started = 1_000_000
    acks = [(62_000.0, 0, started - 60_000), (4.0, 0, started + 10), (7.0, 0, started + 500)]
    assert scenario_ack_lags(acks, started) == [4.0, 7.0]
    assert scenario_ack_lags(acks, None) == []
