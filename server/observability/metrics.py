"""The ``/metrics`` page: what the node counted as work happened
(:mod:`server.observability.instruments`), plus gauges read when the page is scraped, from
the node itself (sockets connected now, open alerts, bus counters, readiness), so reading
never changes anything.

One ``caresync serve`` process is one node. If a process manager runs several worker
processes of one node, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by the
workers (``prometheus-client``'s multi-process mode): counters and histograms are then
summed over the workers; the scrape-time gauges describe the worker that answered.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select

if TYPE_CHECKING:
    from server.node import Node

__all__ = ["CONTENT_TYPE", "build_info", "node_figures", "readiness", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# ---------------------------------------------------------------- the /metrics page


class _Snapshot(Collector):
    """Figures read from the node at scrape time, yielded as they were read."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def build_info() -> Metric:
    """``caresync_build_info`` = 1, labelled with what this node runs."""
    try:
        version = installed_version("caresync")
    except PackageNotFoundError:  # run from a checkout that was never installed
        version = "unknown"
    info = GaugeMetricFamily(
        "caresync_build_info", "What this node runs (always 1)", labels=["version", "python_version"]
    )
    info.add_metric([version, platform.python_version()], 1)
    return info


async def readiness(node: Node) -> Metric:
    """``caresync_ready``: 1 when ``/readyz`` would answer 200, else 0 (it names what failed)."""
    from server.observability.health import failing

    ready = GaugeMetricFamily("caresync_ready", "1 when the node is ready for traffic (as /readyz), else 0")
    ready.add_metric([], 0 if await failing(node) else 1)
    return ready


async def node_figures(node: Node) -> list[Metric]:
    from server.store.schema import mismatch_alerts

    devices = GaugeMetricFamily("caresync_connected_devices", "Device sockets open on this node")
    devices.add_metric([], node.hub.session_count)
    consoles = GaugeMetricFamily("caresync_connected_consoles", "Console sockets open on this node")
    consoles.add_metric([], node.hub.console_count)
    lag = GaugeMetricFamily("caresync_event_loop_lag_max_seconds", "Worst event-loop lag seen since start")
    lag.add_metric([], node.loop_lag_max_ms / 1000)
    figures: list[Metric] = [build_info(), await readiness(node), devices, consoles, lag]
    bus_reconnects = CounterMetricFamily("caresync_bus_reconnects", "Times the bus connection was re-established")
    bus_reconnects.add_metric([], getattr(node.bus, "reconnects", 0))
    bus_failures = CounterMetricFamily("caresync_bus_publish_failures", "Publishes the bus could not deliver")
    bus_failures.add_metric([], getattr(node.bus, "publish_failures", 0))
    figures += [bus_reconnects, bus_failures]
    alerts = GaugeMetricFamily(
        "caresync_open_alerts", "Open sync-mismatch alerts in the cluster, by severity", labels=["severity"]
    )
    try:
        async with node.db.read() as conn:
            rows = (
                await conn.execute(
                    select(mismatch_alerts.c.severity, func.count())
                    .where(mismatch_alerts.c.status == "open")
                    .group_by(mismatch_alerts.c.severity)
                )
            ).all()
    except Exception:  # the store is down: /readyz says so; the other figures still count
        rows = []
    counts = {"high": 0, "normal": 0, **{str(severity): int(count) for severity, count in rows}}
    for severity, count in sorted(counts.items()):
        alerts.add_metric([severity], count)
    figures.append(alerts)
    return figures


async def render(node: Node) -> bytes:
    """The ``/metrics`` page for ``node``: process counters plus the node's figures now."""
    page = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(page)  # type: ignore[no-untyped-call]
    else:
        page.register(_Forward(REGISTRY))
    page.register(_Snapshot(await node_figures(node)))
    return generate_latest(page)


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()
