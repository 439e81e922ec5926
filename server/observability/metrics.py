"""Prometheus metrics: what the node counts, and the ``/metrics`` page.

Two kinds of figures:

- Counters and histograms updated as work happens, in the process-wide registry of
  ``prometheus-client`` (syncs by :func:`instrument_services`, the store by
  :func:`instrument_database`). Socket traffic, counted per frame by
  :mod:`server.observability.sockets`, is kept in plain Python figures
  (:class:`SocketCount`, :class:`SocketHistogram`) served through a collector, with no
  lock per frame.
- Gauges read when ``/metrics`` is scraped, from the node itself (sockets connected now,
  open alerts, bus counters), so reading never changes anything.

One ``caresync serve`` process is one node. If a process manager runs several worker
processes of one node, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by the
workers (``prometheus-client``'s multi-process mode): counters and histograms are then
summed over the workers; the scrape-time gauges describe the worker that answered.
"""

from __future__ import annotations

import math
import os
import platform
import time
import weakref
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from server.node import Node
    from server.store.database import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
"""Several worker processes share the figures through prometheus-client's files (read at import)."""


class SocketCount:
    """A labelled counter of socket traffic, kept in a plain dict.

    Socket figures move once per frame on every socket, so they skip prometheus-client's
    per-sample lock and labelled-child lookup: the event loop is their only writer, and
    :class:`SocketFigures` reads them when ``/metrics`` is scraped. In multi-process mode
    they are prometheus-client counters instead, so the workers' counts are summed.
    """

    __slots__ = ("_shared", "counts", "documentation", "labelnames", "name")

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.counts: dict[tuple[str, ...], int] = {}
        self._shared = Counter(name, documentation, labelnames) if MULTIPROCESS else None

    def inc(self, *labels: str) -> None:
        if self._shared is not None:
            self._shared.labels(*labels).inc()
            return
        counts = self.counts
        counts[labels] = counts.get(labels, 0) + 1

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for labels, count in sorted(self.counts.items()):
            family.add_metric(list(labels), count)
        return family

    def collect(self) -> Iterable[Metric]:
        """This figure's family, read the way prometheus-client's own metrics are."""
        return self._shared.collect() if self._shared is not None else [self.family()]


class SocketHistogram:
    """An unlabelled histogram of socket timings as plain bucket counts (see :class:`SocketCount`)."""

    __slots__ = ("_shared", "bounds", "counts", "documentation", "name", "total")

    def __init__(self, name: str, documentation: str, bounds: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        """Observations per bucket (not cumulative); the last one is above every bound."""
        self.total = 0.0
        self._shared = Histogram(name, documentation, buckets=bounds) if MULTIPROCESS else None

    def observe(self, value: float) -> None:
        if self._shared is not None:
            self._shared.observe(value)
            return
        self.counts[bisect_left(self.bounds, value)] += 1  # a bucket counts values <= its bound
        self.total += value

    def family(self) -> Metric:
        buckets, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        return HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self.total)

    def collect(self) -> Iterable[Metric]:
        """This figure's family, read the way prometheus-client's own metrics are."""
        return self._shared.collect() if self._shared is not None else [self.family()]


SOCKET_CONNECTS = SocketCount("caresync_socket_connects", "Sockets accepted, by kind (device, console)", ("kind",))
SOCKET_CLOSES = SocketCount(
    "caresync_socket_closes", "Sockets closed, by kind and close code (by the server or the peer)", ("kind", "code")
)
SLOW_CONSUMER_CLOSES = SocketCount(
    "caresync_slow_consumer_closes", "Sockets closed as slow consumers (close 4001), by kind", ("kind",)
)
FRAMES_IN = SocketCount(
    "caresync_frames_in", "WebSocket frames received, by socket kind and frame type", ("kind", "type")
)
FRAMES_OUT = SocketCount(
    "caresync_frames_out", "WebSocket frames sent, by socket kind and frame type", ("kind", "type")
)
PUSH_LATENCY = SocketHistogram(
    "caresync_push_latency_seconds",
    "From a change's commit to its send on a device socket (live and catch-up)",
    LATENCY_BUCKETS,
)
ACK_LAG = SocketHistogram(
    "caresync_ack_lag_seconds",
    "From sending a change on a device socket to the device's ack covering it",
    LATENCY_BUCKETS,
)


class SocketFigures(Collector):
    """Serves the plain socket figures in the process-wide registry (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        for figure in (SOCKET_CONNECTS, SOCKET_CLOSES, SLOW_CONSUMER_CLOSES, FRAMES_IN, FRAMES_OUT):
            yield figure.family()
        for timing in (PUSH_LATENCY, ACK_LAG):
            yield timing.family()


if not MULTIPROCESS:
    REGISTRY.register(SocketFigures())
SYNC_REQUESTS = Counter(
    "caresync_sync_requests",
    "Sync requests (socket and HTTP), by kind (standard, clean) and outcome",
    ["kind", "outcome"],
)
SYNC_DURATION = Histogram(
    "caresync_sync_duration_seconds", "Time to answer a sync request, by kind", ["kind"], buckets=LATENCY_BUCKETS
)
MUTATIONS = Counter("caresync_mutations", "Uploaded mutations, by result status", ["status"])
STORE_ERRORS = Counter("caresync_store_errors", "Database statements that failed")
STORE_TRANSACTION = Histogram(
    "caresync_store_transaction_seconds",
    "Database transactions, begin to commit or rollback, by outcome",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
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
