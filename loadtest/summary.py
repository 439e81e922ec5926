"""A fleet run's figures as people read them: milliseconds with a dash for "no samples",
and the one-line result ``caresync fleet`` prints."""

from __future__ import annotations

from typing import Any

NO_SAMPLES = "\u2013"
"""An en dash: the figure had no samples."""


def ms(value: float | None) -> str:
    """``12.3 ms``, or a dash when there was nothing to measure."""
    return NO_SAMPLES if value is None else f"{value:.1f} ms"


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def latency_text(figures: dict[str, Any], what: str = "latency") -> str:
    """``latency p50 3.1 ms, p95 4.0 ms, p99 9.8 ms, max 12.0 ms (20 samples)`` or ``latency: no samples``."""
    samples = figures.get("samples", 0)
    if not samples:
        return f"{what}: no samples"
    quantiles = ", ".join(f"{q} {ms(figures.get(q))}" for q in ("p50", "p95", "p99", "max") if q in figures)
    return f"{what} {quantiles} ({samples} samples)"


def result_line(report: dict[str, Any]) -> str:
    """The run in one line of text (report.json has every figure)."""
    lost = report["lost_changes"]
    return "; ".join(
        [
            f"{report['changes_sent']} changes, {report['deliveries']} deliveries",
            latency_text(report["latency_ms"]),
            latency_text(report["ack_lag_ms"], "ack lag"),
            f"lost {'not counted (slow scenario)' if lost is None else lost}",
            f"applied twice {report['applied_twice']}",
            f"alerts {report['mismatch_alerts']}",
        ]
    )
