"""Writing a fleet report: report.json, report.md and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadtest.fleet import Timeline


def write_report(folder: Path, report: dict[str, Any], timeline: Timeline, latencies: list[float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    report = {**report, "timeline": timeline.__dict__}
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    rows = [(k, v) for k, v in report.items() if k not in ("timeline", "parameters", "latency_ms")]
    lines = [
        f"# Fleet report: {report['scenario']}",
        "",
        "| parameter | value |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in report["parameters"].items()),
        "",
        "| figure | value |",
        "| --- | --- |",
        *(f"| latency {k} | {v} |" for k, v in report["latency_ms"].items()),
        *(f"| {k} | {v} |" for k, v in rows if v is not None),
        "",
        "Charts: latency.png (push latency distribution), connected.png (devices connected),",
        "deliveries.png (deliveries per second).",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines))
    _charts(folder, timeline, latencies)


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
