"""Prometheus metrics: what the node counts, and the ``/metrics`` page.

Two kinds of figures:

- Counters and histograms updated as work happens, in the process-wide registry of
  ``prometheus-client`` (socket traffic is counted by :mod:`server.observability.sockets`,
  syncs by :func:`instrument_services`, the store by :func:`instrument_database`).
- Gauges read when ``/metrics`` is scraped, from the node itself (sockets connected now,
  open alerts, bus counters), so reading never changes anything.

One ``caresync serve`` process is one node. If a process manager runs several worker
processes of one node, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by the
workers (``prometheus-client``'s multi-process mode): counters and histograms are then
summed over the workers; the scrape-time gauges describe the worker that answered.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from server.node import Node
    from server.store.database import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

SOCKET_CONNECTS = Counter("caresync_socket_connects", "Sockets accepted, by kind (device, console)", ["kind"])
SOCKET_CLOSES = Counter(
    "caresync_socket_closes", "Sockets closed, by kind and close code (by the server or the peer)", ["kind", "code"]
)
SLOW_CONSUMER_CLOSES = Counter(
    "caresync_slow_consumer_closes", "Sockets closed as slow consumers (close 4001), by kind", ["kind"]
)
FRAMES_IN = Counter("caresync_frames_in", "WebSocket frames received, by socket kind and frame type", ["kind", "type"])
FRAMES_OUT = Counter("caresync_frames_out", "WebSocket frames sent, by socket kind and frame type", ["kind", "type"])
PUSH_LATENCY = Histogram(
    "caresync_push_latency_seconds",
    "From a change's commit to its send on a device socket (live and catch-up)",
    buckets=_LATENCY_BUCKETS,
)
ACK_LAG = Histogram(
    "caresync_ack_lag_seconds",
    "From sending a change on a device socket to the device's ack covering it",
    buckets=_LATENCY_BUCKETS,
)
SYNC_REQUESTS = Counter(
    "caresync_sync_requests",
    "Sync requests (socket and HTTP), by kind (standard, clean) and outcome",
    ["kind", "outcome"],
)
SYNC_DURATION = Histogram(
    "caresync_sync_duration_seconds", "Time to answer a sync request, by kind", ["kind"], buckets=_LATENCY_BUCKETS
)
MUTATIONS = Counter("caresync_mutations", "Uploaded mutations, by result status", ["status"])
STORE_ERRORS = Counter("caresync_store_errors", "Database statements that failed")
STORE_TRANSACTION = Histogram(
    "caresync_store_transaction_seconds",
    "Database transactions, begin to commit or rollback, by outcome",
    ["outcome"],
    buckets=_LATENCY_BUCKETS,
)
LOOP_LAG = Histogram(
    "caresync_event_loop_lag_seconds",
    "How late the event loop ran a 100 ms timer (sampled ten times a second)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


# ---------------------------------------------------------------- instrumentation


_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()


def instrument_database(db: Database) -> None:
    """Count failed statements and time transactions on ``db``'s engine (once per engine)."""
    engine = db.engine.sync_engine
    if engine in _instrumented:
        return
    _instrumented.add(engine)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.info["caresync_began"] = time.perf_counter()

    def _ended(outcome: str) -> Callable[[Connection], None]:
        def ended(conn: Connection) -> None:
            if conn.invalidated:  # a broken connection's info cannot be read (PendingRollbackError)
                return
            began = conn.info.pop("caresync_began", None)
            if began is not None:
                STORE_TRANSACTION.labels(outcome).observe(time.perf_counter() - began)

        return ended

    event.listen(engine, "commit", _ended("commit"))
    event.listen(engine, "rollback", _ended("rollback"))

    @event.listens_for(engine, "handle_error")
    def _error(_context: Any) -> None:
        STORE_ERRORS.inc()


def instrument_services(node: Node) -> None:
    """Count sync requests (both transports share these two services) and their mutations."""
    if node.sync in _instrumented:
        return
    _instrumented.add(node.sync)
    standard = node.sync.standard_sync
    clean = node.clean_sync.serve

    async def standard_sync(*args: Any, **kwargs: Any) -> Any:
        response = await _timed("standard", standard, *args, **kwargs)
        for result in getattr(response, "results", ()):
            MUTATIONS.labels(result.status).inc()
        return response

    async def clean_sync(*args: Any, **kwargs: Any) -> Any:
        return await _timed("clean", clean, *args, **kwargs)

    setattr(node.sync, "standard_sync", standard_sync)  # noqa: B010 (an instance attribute on purpose)
    setattr(node.clean_sync, "serve", clean_sync)  # noqa: B010


async def _timed(kind: str, call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    began = time.perf_counter()
    outcome = "error"
    try:
        response = await call(*args, **kwargs)
        outcome = "ok"
        return response
    finally:
        SYNC_REQUESTS.labels(kind, outcome).inc()
        SYNC_DURATION.labels(kind).observe(time.perf_counter() - began)


# ---------------------------------------------------------------- the /metrics page


class _Snapshot(Collector):
    """Figures read from the node at scrape time, yielded as they were read."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


async def node_figures(node: Node) -> list[Metric]:
    from server.store.schema import mismatch_alerts

    devices = GaugeMetricFamily("caresync_connected_devices", "Device sockets open on this node")
    devices.add_metric([], node.hub.session_count)
    consoles = GaugeMetricFamily("caresync_connected_consoles", "Console sockets open on this node")
    consoles.add_metric([], node.hub.console_count)
    lag = GaugeMetricFamily("caresync_event_loop_lag_max_seconds", "Worst event-loop lag seen since start")
    lag.add_metric([], node.loop_lag_max_ms / 1000)
    figures: list[Metric] = [devices, consoles, lag]
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
