"""What the node counts as work happens: Prometheus counters and histograms in the
process-wide registry, and the plain socket figures (no lock per frame).

Counters and histograms are ``prometheus-client``'s: syncs through :func:`timed_sync`
(which the sync services put on their entry points), the store through
:func:`watch_engine`. Socket traffic, counted per frame by
:mod:`server.observability.sockets`, is kept in plain Python figures (:class:`SocketCount`,
:class:`SocketHistogram`) served through a collector. Nothing here knows the node: the
``/metrics`` page (:mod:`server.observability.metrics`) reads the node at scrape time.

With ``PROMETHEUS_MULTIPROC_DIR`` set (several worker processes of one node), the socket
figures are prometheus-client counters too, so the workers' counts are summed.
"""

from __future__ import annotations

import functools
import math
import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

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


def watch_engine(engine: Engine) -> None:
    """Count failed statements and time transactions on ``engine`` (the store calls it once,
    when it makes its engine)."""

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


P = ParamSpec("P")
R = TypeVar("R")


def timed_sync(kind: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Count and time a sync service's entry point (both transports call it), by ``kind``
    (``standard``, ``clean``) and outcome; with the answer's ``results``, count the uploaded
    mutations by status."""

    def decorate(call: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(call)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            began = time.perf_counter()
            outcome = "error"
            try:
                answer = await call(*args, **kwargs)
                outcome = "ok"
            finally:
                SYNC_REQUESTS.labels(kind, outcome).inc()
                SYNC_DURATION.labels(kind).observe(time.perf_counter() - began)
            for result in getattr(answer, "results", ()):
                MUTATIONS.labels(result.status).inc()
            return answer

        return timed

    return decorate
