"""Pass/fail thresholds on a fleet run's figures, in the manner of k6's: ``--expect 'p99<30ms'``.

Grammar (spaces allowed around the operator)::

    EXPECTATION := METRIC OPERATOR NUMBER [UNIT]
    OPERATOR    := "<" | "<=" | ">" | ">=" | "=" | "==" | "!="
    UNIT        := "ms" | "s"            (times only; a time without a unit is in ms)

The metrics are :data:`METRICS`: push latency percentiles (``p50``, ``p95``, ``p99``,
``max``), acknowledgement lag (``ack_p50``, ``ack_p99``), and counts (``lost``, ``behind``,
``twice``, ``alerts``, ``reconnects``, ``changes``, ``deliveries``). A figure the run has
no sample of (no change delivered, say) fails its expectation, whatever it says.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    description: str
    read: Callable[[dict[str, Any]], float | int | None]
    is_time: bool = False


def _nested(key: str, inner: str) -> Callable[[dict[str, Any]], float | int | None]:
    def read(report: dict[str, Any]) -> float | int | None:
        value = report.get(key, {}).get(inner)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    return read


def _top(key: str) -> Callable[[dict[str, Any]], float | int | None]:
    def read(report: dict[str, Any]) -> float | int | None:
        value = report.get(key)
        return value if isinstance(value, int | float) else None

    return read


METRICS: dict[str, Metric] = {
    "p50": Metric("push latency, median (commit to device)", _nested("latency_ms", "p50"), is_time=True),
    "p95": Metric("push latency, 95th percentile", _nested("latency_ms", "p95"), is_time=True),
    "p99": Metric("push latency, 99th percentile", _nested("latency_ms", "p99"), is_time=True),
    "max": Metric("push latency, slowest", _nested("latency_ms", "max"), is_time=True),
    "ack_p50": Metric("ack lag, median (commit to the ack recorded)", _nested("ack_lag_ms", "p50"), is_time=True),
    "ack_p99": Metric("ack lag, 99th percentile", _nested("ack_lag_ms", "p99"), is_time=True),
    "lost": Metric("changes a device never got", _top("lost_changes")),
    "behind": Metric("devices missing a change at the end", _top("devices_behind")),
    "twice": Metric("changes applied twice", _top("applied_twice")),
    "alerts": Metric("sync-mismatch alerts raised", _top("mismatch_alerts")),
    "reconnects": Metric("device reconnections", _top("reconnects")),
    "changes": Metric("rota changes the server accepted", _top("changes_sent")),
    "deliveries": Metric("changes applied on devices", _top("deliveries")),
}

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "=": operator.eq,
}
_UNITS = {"ms": 1.0, "s": 1000.0}
_PATTERN = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>|=)\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


class BadExpectation(ValueError):
    pass


@dataclass(frozen=True)
class Expectation:
    text: str
    metric: str
    op: str
    value: float
    """In the metric's own unit (ms for times)."""


@dataclass(frozen=True)
class Verdict:
    expectation: Expectation
    actual: float | int | None
    passed: bool

    def line(self) -> str:
        """``PASS p99<30ms (12.4 ms)`` or ``FAIL lost=0 (3)``."""
        shown = "no samples" if self.actual is None else _show(self.actual, METRICS[self.expectation.metric])
        return f"{'PASS' if self.passed else 'FAIL'} {self.expectation.text} ({shown})"


def _show(value: float | int, metric: Metric) -> str:
    if metric.is_time:
        return f"{value:.1f} ms"
    return f"{value:g}"


def parse(text: str) -> Expectation:
    match = _PATTERN.match(text)
    if match is None:
        raise BadExpectation(f"{text!r}: write METRIC OPERATOR NUMBER[UNIT], e.g. 'p99<30ms' or 'lost=0'")
    name, op, number, unit = match.groups()
    metric = METRICS.get(name)
    if metric is None:
        raise BadExpectation(f"{text!r}: no metric {name!r}; one of {', '.join(METRICS)}")
    if unit and not metric.is_time:
        raise BadExpectation(f"{text!r}: {name} is a count and takes no unit")
    if unit and unit not in _UNITS:
        raise BadExpectation(f"{text!r}: unit {unit!r}; use ms or s")
    return Expectation(text.strip(), name, op, float(number) * _UNITS.get(unit or "ms", 1.0))


def judge(expectations: list[Expectation], report: dict[str, Any]) -> list[Verdict]:
    verdicts = []
    for expectation in expectations:
        actual = METRICS[expectation.metric].read(report)
        passed = actual is not None and _OPERATORS[expectation.op](float(actual), expectation.value)
        verdicts.append(Verdict(expectation, actual, passed))
    return verdicts


def grammar_help() -> str:
    """The ``--expect`` help text: the grammar and every metric."""
    names = "; ".join(f"{name}: {metric.description}" for name, metric in METRICS.items())
    return (
        "a threshold the run must meet, METRIC OPERATOR NUMBER[UNIT] with OPERATOR one of < <= > >= = != "
        "and UNIT ms or s for times (ms if omitted), e.g. --expect 'p99<30ms' --expect lost=0; repeatable; "
        f"each verdict is printed and the exit status is 1 if one fails. Metrics: {names}"
    )
