"""``--expect`` thresholds: the grammar, and verdicts on a run's figures."""

from __future__ import annotations

import pytest

from loadtest.thresholds import METRICS, BadExpectation, judge, parse

REPORT = {
    "latency_ms": {"p50": 2.0, "p95": 8.0, "p99": 12.5, "max": 40.0, "samples": 100},
    "ack_lag_ms": {"p50": 3.0, "p95": 9.0, "p99": None, "max": None, "samples": 0},
    "lost_changes": 0,
    "devices_behind": 0,
    "applied_twice": 1,
    "mismatch_alerts": 0,
    "reconnects": 7,
    "changes_sent": 100,
    "deliveries": 100,
}


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("p99<30ms", "p99", "<", 30.0),
        ("p99 < 30ms", "p99", "<", 30.0),
        ("p99<30", "p99", "<", 30.0),
        ("ack_p99<=2s", "ack_p99", "<=", 2000.0),
        ("max<0.5s", "max", "<", 500.0),
        ("lost=0", "lost", "=", 0.0),
        ("lost==0", "lost", "==", 0.0),
        ("reconnects>=3", "reconnects", ">=", 3.0),
        ("alerts!=1", "alerts", "!=", 1.0),
    ],
)
def test_expectations_parse(text: str, metric: str, op: str, value: float) -> None:
    expectation = parse(text)
    assert (expectation.metric, expectation.op, expectation.value) == (metric, op, value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("p99", "METRIC OPERATOR NUMBER"),
        ("p99<fast", "METRIC OPERATOR NUMBER"),
        ("p98<30ms", "no metric 'p98'"),
        ("lost=0ms", "count and takes no unit"),
        ("p99<30min", "unit 'min'"),
    ],
)
def test_bad_expectations_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadExpectation, match=says):
        parse(text)


def test_verdicts_pass_and_fail_on_the_figures() -> None:
    texts = ["p99<30ms", "p99<10ms", "lost=0", "twice=0", "reconnects<=7", "ack_p50<1s", "ack_p99<1s"]
    lines = [verdict.line() for verdict in judge([parse(t) for t in texts], REPORT)]
    assert lines == [
        "PASS p99<30ms (12.5 ms)",
        "FAIL p99<10ms (12.5 ms)",
        "PASS lost=0 (0)",
        "FAIL twice=0 (1)",
        "PASS reconnects<=7 (7)",
        "PASS ack_p50<1s (3.0 ms)",
        "FAIL ack_p99<1s (no samples)",
    ]


def test_every_metric_reads_a_figure_of_a_report() -> None:
    for name, metric in METRICS.items():
        assert metric.read(REPORT) is not None or name in ("ack_p99",), name
