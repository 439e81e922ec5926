"""Writing a fleet report: report.json, report.md and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtest.summary import NO_SAMPLES

if TYPE_CHECKING:
    from loadtest.fleet import Timeline


def write_report(folder: Path, report: dict[str, Any], timeline: Timeline, latencies: list[float]) -> None:
    """report.json (every figure; strict JSON, no NaN), report.md (the same as tables, nested
    figures one row each and any other structure as JSON) and the charts."""
    folder.mkdir(parents=True, exist_ok=True)
    report = {**report, "timeline": timeline.__dict__}
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=str, allow_nan=False) + "\n")
    (folder / "report.md").write_text(markdown(report))
    _charts(folder, timeline, latencies)


def cell(value: Any) -> str:
    """A table cell: a dash for nothing, JSON for a structure, the value's text otherwise."""
    if value is None:
        return NO_SAMPLES
    if isinstance(value, dict | list):
        return f"`{json.dumps(value, separators=(', ', ': '))}`"
    return str(value)


_IN_MS = {"latency_ms": "push latency", "ack_lag_ms": "ack lag"}


def markdown(report: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = []
    for key, value in report.items():
        if key in ("timeline", "parameters", "scenario"):
            continue
        if key in _IN_MS:
            rows += [(f"{_IN_MS[key]} {name}" + ("" if name == "samples" or "devices" in name else " (ms)"), v)
                     for name, v in value.items()]  # fmt: skip
        elif value is not None:
            rows.append((key, value))
    lines = [
        f"# Fleet report: {report['scenario']}",
        "",
        "| parameter | value |",
        "| --- | --- |",
        *(f"| {k} | {cell(v)} |" for k, v in report["parameters"].items()),
        "",
        "| figure | value |",
        "| --- | --- |",
        *(f"| {k} | {cell(v)} |" for k, v in rows),
        "",
        "Charts: latency.png (push latency distribution), connected.png (devices connected),",
        "deliveries.png (deliveries per second).",
        "",
    ]
    return "\n".join(lines)


def _charts(folder: Path, timeline: Timeline, latencies: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    if latencies:
        axis.hist(latencies, bins=60)
    axis.set_xlabel("push latency, commit to device (ms)")
    axis.set_ylabel("changes")
    figure.tight_layout()
    figure.savefig(folder / "latency.png", dpi=100)
    plt.close(figure)
    for name, values, label in (
        ("connected", timeline.connected, "devices connected"),
        ("deliveries", timeline.deliveries, "deliveries per second"),
    ):
        figure, axis = plt.subplots(figsize=(7, 3))
        axis.plot(timeline.seconds, values)
        axis.set_xlabel("seconds")
        axis.set_ylabel(label)
        figure.tight_layout()
        figure.savefig(folder / f"{name}.png", dpi=100)
        plt.close(figure)
