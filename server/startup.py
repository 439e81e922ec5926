"""Start-up checks that turn an unreachable or malformed URL into one clear line, and the
garbage collector's set-up for a serving node (thresholds, freezing, pause timing)."""

from __future__ import annotations

import asyncio
import errno
import gc
import math
import socket
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import text

from server.store.database import Database


class StartupError(Exception):
    """Raised when the node cannot start; ``str()`` is the one line to show."""


def redacted(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


SUPPORTED_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


def check_database_scheme(url: str) -> None:
    """Refuse a URL whose database caresync has no store for, before any driver is imported."""
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else url
    if scheme not in SUPPORTED_DATABASE_SCHEMES:
        raise StartupError(f"unsupported database URL scheme {scheme!r}; use sqlite:// or postgresql://")


def check_port_free(host: str, port: int) -> None:
    """Bind the address as the server will (address reuse on, as uvicorn sets it), then let
    it go: a port in use is one line before the schema is migrated or anything started."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}: {exc.strerror or exc}") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise StartupError(
                f"port {port} on {host} is in use (another server?); choose another with --port (or CARESYNC_PORT)"
                if exc.errno == errno.EADDRINUSE
                else f"cannot listen on {host} port {port}: {exc.strerror or exc}"
            ) from exc


async def check_database(db: Database, url: str, timeout_s: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout_s), db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StartupError(f"cannot reach the database at {redacted(url)}: {reason}") from exc


async def check_redis(url: str, timeout_s: float = 5.0) -> None:
    from redis.asyncio import Redis

    try:
        client: Redis = Redis.from_url(url, socket_connect_timeout=timeout_s)
    except ValueError as exc:
        raise StartupError(f"invalid Redis URL {redacted(url)}: {exc}") from exc
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except Exception as exc:
        raise StartupError(f"cannot reach Redis at {redacted(url)}: {exc}") from exc
    finally:
        await client.aclose()


async def preflight(database_url: str, redis_url: str | None) -> None:
    """Check every configured service before serving; raise :class:`StartupError`."""
    check_database_scheme(database_url)
    try:
        db = Database(database_url)
    except Exception as exc:
        raise StartupError(f"invalid database URL {redacted(database_url)}: {exc}") from exc
    try:
        await check_database(db, database_url)
    finally:
        await db.close()
    if redis_url:
        await check_redis(redis_url)


# ---------------------------------------------------------------- garbage collection

GC_THRESHOLDS = (700, 10, 10)
"""Collection thresholds for ``caresync serve``, set explicitly. Measured with
``bench.fanout`` at 2,000 devices (docs/benchmarks.md): with each connect wave frozen
every :data:`WAVE_STEP_SOCKETS` sockets, these keep the worst young collection near
1 ms and the worst middle one near 2.5 ms of CPU, against about 3 and 8-11 ms with
(7000, 20, 100), which only saves collections nobody waits on. No full collection ran
during the connect wave or the pushes."""

WAVE_QUIET_S = 2.0
"""A connect wave has passed when no socket was registered for this long."""
WAVE_MIN_SOCKETS = 20
"""Sockets registered since the last freeze that make a quiet moment worth a freeze."""
WAVE_STEP_SOCKETS = 100
"""During a long wave, freeze every this many new sockets without waiting for quiet, so
a collection never walks more than about this many sockets' objects."""
WAVE_MIN_THAW_INTERVAL_S = 30.0
"""Seconds between two thaws at least: each is a full collection of the whole heap (70 to
90 ms at a few hundred sockets), and a client reconnecting the moment it is closed would
otherwise have one run every :data:`WAVE_STEP_SOCKETS` connects, holding up every push
(``bench.flood``). In between, what closed sockets left in cycles stays frozen."""
WAVE_MAX_FROZEN_S = 300.0
"""Once sockets have closed, a freeze this long after the first one since the last full
collection thaws and collects first, quiet or not: what closed sockets left in cycles is
frozen with them, and under steady reconnects neither a quiet moment nor all the frozen
sockets closing may come, while each freeze also freezes what waits in the oldest generation."""


GC_PAUSE_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class GcWatch:
    """The garbage collector's pauses, timed by ``gc.callbacks``: a histogram of every
    pause (``caresync_gc_pause_seconds``) and the worst per generation
    (``caresync_gc_pause_max_seconds``) on ``/metrics``."""

    def __init__(self) -> None:
        self.worst_s = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self.pauses = [0] * (len(GC_PAUSE_BOUNDS) + 1)
        """Pauses per bucket (not cumulative); the last one is above every bound."""
        self.paused_s = 0.0
        self.worst_cpu_s = [0.0, 0.0, 0.0]
        """The same pauses in process CPU time (a shared machine's scheduling left out)."""
        self._began = 0.0
        self._began_cpu = 0.0
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._on_collection)
            self.installed = True

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            self._began_cpu = time.process_time()
            return
        generation = info["generation"]
        pause = time.perf_counter() - self._began
        self.worst_cpu_s[generation] = max(self.worst_cpu_s[generation], time.process_time() - self._began_cpu)
        self.collections[generation] += 1
        self.pauses[bisect_left(GC_PAUSE_BOUNDS, pause)] += 1
        self.paused_s += pause
        if pause > self.worst_s[generation]:
            self.worst_s[generation] = pause


class ConnectWaves:
    """Freezes (``gc.freeze``) the objects of connected sockets once a connect wave has
    passed, so later full collections do not walk them again and again.

    Frozen objects are still freed by reference counting when a socket closes; what a
    closed socket leaves in reference cycles stays frozen until a thaw. A freeze thaws,
    collects once and freezes again instead when as many sockets have closed since the
    last thaw as were frozen at the last freeze (a fleet that moved away), or when sockets
    have closed and the oldest frozen garbage is :data:`WAVE_MAX_FROZEN_S` old; the next
    quiet moment freezes (thawing first) when the first holds. Under steady reconnects
    the freezes every :data:`WAVE_STEP_SOCKETS` sockets thaw, so frozen garbage stays
    bounded, but at most once per :data:`WAVE_MIN_THAW_INTERVAL_S`; in between, a step
    most of whose sockets have already closed (a client reconnecting the moment it is
    closed) is not frozen at all: freezing it would only freeze its garbage.
    Does nothing until :func:`tune_gc` enables it (``caresync serve`` does; tests do not).
    """

    def __init__(
        self,
        quiet_s: float = WAVE_QUIET_S,
        min_sockets: int = WAVE_MIN_SOCKETS,
        step_sockets: int = WAVE_STEP_SOCKETS,
        max_frozen_s: float = WAVE_MAX_FROZEN_S,
        clock: Callable[[], float] = time.monotonic,
        min_thaw_interval_s: float = WAVE_MIN_THAW_INTERVAL_S,
    ) -> None:
        self.quiet_s = quiet_s
        self.min_sockets = min_sockets
        self.step_sockets = step_sockets
        self.max_frozen_s = max_frozen_s
        self.clock = clock
        """Times how long garbage has been frozen (the quiet moments use the event loop's)."""
        self._frozen_since: float | None = None
        """When the first freeze since the last full collection ran."""
        self.min_thaw_interval_s = min_thaw_interval_s
        self._thawed_at: float | None = None
        self.enabled = False
        self.freezes = 0
        self.thaws = 0
        self.churned_steps = 0
        """Steps not frozen because most of their sockets had closed already."""
        self._closed_in_step = 0
        self._new = 0
        self._closed = 0
        self._frozen_sockets = 0
        self._open = 0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def connected(self) -> None:
        self._open += 1
        if not self.enabled:
            return
        self._new += 1
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        if self._new >= self.step_sockets:
            thaw = self._thaw_due()
            if thaw or self._closed_in_step * 2 < self._new:
                self._freeze(thaw=thaw)
            else:  # churn: most sockets of this step are gone already; the young collections take them
                self._new = self._closed_in_step = 0
                self.churned_steps += 1
        elif self._timer is None:
            self._timer = loop.call_later(self.quiet_s, self._check)

    def closed(self) -> None:
        self._open = max(0, self._open - 1)
        if not self.enabled:
            return
        self._closed += 1
        self._closed_in_step += 1
        if self._timer is None and self._frozen_sockets and self._closed >= self._frozen_sockets:
            self._last = asyncio.get_running_loop().time()
            self._timer = asyncio.get_running_loop().call_later(self.quiet_s, self._check)

    def _check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last
        if quiet < self.quiet_s:
            self._timer = loop.call_later(self.quiet_s - quiet, self._check)
            return
        if self._new >= self.min_sockets or self._moved_away():
            self._freeze(thaw=self._thaw_due())

    def _moved_away(self) -> bool:
        return self._frozen_sockets > 0 and self._closed >= self._frozen_sockets

    def _thaw_due(self) -> bool:
        thawed_at = self._thawed_at
        if thawed_at is not None and self.clock() - thawed_at < self.min_thaw_interval_s:
            return False
        if self._moved_away():
            return True
        since = self._frozen_since
        return self._closed > 0 and since is not None and self.clock() - since >= self.max_frozen_s

    def _freeze(self, *, thaw: bool) -> None:
        if thaw:  # what closed sockets left in cycles is collected once
            gc.unfreeze()
            gc.collect()
            self._closed = 0
            self._frozen_since = None
            self._thawed_at = self.clock()
            self.thaws += 1
        else:
            gc.collect(1)  # the young garbage is not frozen with the wave
        if self._frozen_since is None:
            self._frozen_since = self.clock()
        gc.freeze()
        self.freezes += 1
        self._new = self._closed_in_step = 0
        self._frozen_sockets = self._open


GC = GcWatch()
"""The process's collector watch: ``gc.callbacks`` and thresholds belong to the process, not to
a node (one ``caresync serve`` process serves one node)."""


class GcFigures(Collector):
    """Serves :data:`GC`'s figures, and the serving node's connect-wave freezes, on ``/metrics``."""

    def __init__(self, waves: ConnectWaves) -> None:
        self.waves = waves

    def collect(self) -> Iterable[Metric]:
        pauses = GaugeMetricFamily(
            "caresync_gc_pause_max_seconds", "Longest garbage collection pause, by generation", labels=["generation"]
        )
        counts = CounterMetricFamily(
            "caresync_gc_collections", "Garbage collections, by generation", labels=["generation"]
        )
        cpu = GaugeMetricFamily(
            "caresync_gc_pause_cpu_max_seconds",
            "Longest garbage collection pause in process CPU time, by generation",
            labels=["generation"],
        )
        for generation in range(3):
            pauses.add_metric([str(generation)], GC.worst_s[generation])
            cpu.add_metric([str(generation)], GC.worst_cpu_s[generation])
            counts.add_metric([str(generation)], GC.collections[generation])
        yield pauses
        yield cpu
        yield counts
        buckets, running = [], 0
        for bound, count in zip((*GC_PAUSE_BOUNDS, math.inf), GC.pauses, strict=True):
            running += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        yield HistogramMetricFamily(
            "caresync_gc_pause_seconds", "Garbage collection pauses", buckets=buckets, sum_value=GC.paused_s
        )
        yield GaugeMetricFamily("caresync_gc_wave_freezes", "Freezes after connect waves", value=self.waves.freezes)
        frozen = gc.get_freeze_count()
        yield GaugeMetricFamily("caresync_gc_frozen_objects", "Objects frozen out of collections", value=frozen)


def tune_gc(waves: ConnectWaves) -> None:
    """After start-up (``caresync serve``): thresholds, pause timing, freeze what start-up
    made, and freeze again after each connect wave."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.collect()  # start-up's garbage, before anything is connected (not timed: no socket waits on it)
    gc.freeze()
    if not GC.installed:
        GC.install()
        REGISTRY.register(GcFigures(waves))
    waves.enabled = True
