"""``caresync fleet``: a fleet of simulated devices against caresync, one scenario, a report.

Without ``--url`` the harness starts ``caresync serve`` itself on a fresh SQLite file
(pinned to core 0) and seeds it; with ``--url`` and ``--database-url`` it seeds that
database and drives the given server (one node or a load balancer in front of several).
Devices run in ``--workers`` processes (pinned to core 1) built on a lean sans-I/O client.

Before anything starts the fleet checks that the machine can hold it: its open-file limit
(raised to the hard limit; :mod:`loadtest.fd_limits`) and the local ports of its source
addresses (:mod:`loadtest.source_addresses`); a fleet that cannot fit stops with a message
saying what to change.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtest.fd_limits import FdLimitTooLow, FdNeeds, check_fd_limit, fd_needs, process_fd_limit, raise_soft_limit
from loadtest.measure import cpu_s, listen_queue_overflows, percentile, rss_kib
from loadtest.report import write_report
from loadtest.results import fleet_results
from loadtest.seed import BulkAgency, bulk_agency_with_admin
from loadtest.server_process import SpawnedServer
from loadtest.source_addresses import assign, choose_source_addresses, ephemeral_port_range
from loadtest.summary import ms, rounded
from server.store.database import Database

SCENARIOS = ("steady", "burst", "storm", "flaky", "clean", "slow", "http")
STORM_DETECTION_INTERVAL_S = 5
"""Sync-mismatch passes every this many seconds on a storm's server (unless --server-arg sets it)."""
SERVER_DEFAULT_MAX_CONNECTIONS = 16_384
"""``caresync serve``'s default ``--max-connections``; a larger fleet raises it on the server it starts."""


class WorkerExited(RuntimeError):
    """A load-generator process ended before its devices connected."""


@dataclass
class FleetConfig:
    devices: int = 200
    workers: int = 2
    scenario: str = "steady"
    rate: float = 20.0
    duration_s: float = 20.0
    url: str | None = None
    database_url: str | None = None
    report_dir: Path = Path("fleet-report")
    slow_share: float = 0.05
    drop_share: float = 0.02
    burst_size: int = 1000
    drop_one_change: bool = False
    """Harness self-test: one device silently ignores one change (the loss must be reported)."""
    quiet: bool = False
    ramp_per_s: float = 500.0
    """How fast devices come online at the start (all workers together)."""
    server_args: list[str] = field(default_factory=list)
    """Extra ``caresync serve`` flags for the spawned server (e.g. ``--max-unacked 5``)."""
    storm_down_s: float = 1.0
    """How long the storm keeps the killed server down before restarting it."""
    storm_grace_s: int = 30
    """The tenant's sync-mismatch grace during a storm (and the ``http`` scenario); the run
    then lasts until a whole grace period (plus two detection passes) has passed since the
    restart (the last sync), so any alert it would cause is raised and counted. 0: keep
    the default grace, no wait."""
    http_sync_interval_s: float = 900.0
    """``http`` scenario: every device is HTTP-only and syncs this often (the tenant's
    default auto-sync interval), at the start and once more after the changes."""
    idle_measure_s: float = 0.0
    """Seconds of the spawned server's idle CPU measured once every device is connected
    (after :data:`IDLE_SETTLE_S` for the connect wave to settle); 0: not measured."""
    source_addresses: int | list[str] | None = None
    """Local addresses the devices connect from: a count of loopback addresses (127.0.0.1
    up), the addresses themselves, or None to pick as many as the fleet needs."""


@dataclass
class Timeline:
    seconds: list[float] = field(default_factory=list)
    connected: list[int] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)
    p99_ms: list[float | None] = field(default_factory=list)
    """Each second's push latency p99; None for a second with no delivery."""
    server_rss_kib: list[int] = field(default_factory=list)
    abnormal_closes: list[int] = field(default_factory=list)
    """Each second's sockets closed 1006 (no close frame)."""
    connect_failures: list[int] = field(default_factory=list)
    """Each second's connection attempts that never opened."""


@dataclass
class _Worker:
    process: asyncio.subprocess.Process
    last: dict[str, Any] = field(default_factory=dict)
    last_at: float = 0.0
    final: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


class Fleet:
    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.workers: list[_Worker] = []
        self.latencies: list[float] = []
        self.window: list[float] = []
        self.timeline = Timeline()
        self.generator_cpu_s = 0.0
        self.server: SpawnedServer | None = None
        self.changes_sent = 0
        self.started = time.perf_counter()
        self.scenario_started_ms: int | None = None
        """Wall-clock time (ms since the epoch, the clock commits are stamped with) when the
        scenario's first change could be made: the ack lag counts only changes from then on."""
        self.interactive = not config.quiet and sys.stdout.isatty()
        """Progress rewrites one line (``\\r``) only on a terminal; a pipe gets whole lines."""
        self.notes: dict[str, Any] = {}
        self.server_cpu0 = 0.0
        """The spawned server's CPU when the run began (after its start-up)."""
        self.server_cpu_before_restart: float | None = None
        """The first server process's CPU, when a storm killed it (its /proc entry is gone)."""
        self._readers: list[asyncio.Task[None]] = []
        self.source_addresses: list[str] = []
        """Where devices connect from (empty: the system chooses)."""
        self.abnormal_open_s: list[float] = []
        """How long each socket closed 1006 had been open."""
        self.generator_loop_lag_max_ms = 0.0

    # ------------------------------------------------------------ workers

    async def start_workers(self, url: str, agency: BulkAgency) -> None:
        specs = []
        slow = (
            set(random.Random(1).sample(range(len(agency.devices)), int(len(agency.devices) * self.config.slow_share)))
            if self.config.scenario == "slow"
            else set()
        )
        for i, device in enumerate(agency.devices):
            specs.append(
                {
                    "token": device.token,
                    "uuid": device.uuid,
                    "carer_id": device.carer_id,
                    "slow": i in slow,
                    "drop_one_change": self.config.drop_one_change and i == 0,
                    "repair": not (self.config.drop_one_change and i == 0),
                    "source_address": assign(self.source_addresses, i),
                }
            )
        ws_url = url.replace("http", "ws", 1) + "/ws/device"
        pin = ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
        for w in range(self.config.workers):
            share = specs[w :: self.config.workers]
            process = await asyncio.create_subprocess_exec(
                *pin,
                sys.executable,
                "-m",
                "loadtest.worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**26,
            )
            assert process.stdin is not None
            config = {
                "url": ws_url,
                "devices": share,
                "ramp_per_s": self.config.ramp_per_s / self.config.workers,
                "http_only": self.config.scenario == "http",
                "http_url": url,
                "http_sync_interval_s": self.config.http_sync_interval_s,
            }
            process.stdin.write((json.dumps(config) + "\n").encode())
            await process.stdin.drain()
            worker = _Worker(process)
            self.workers.append(worker)
            self._readers.append(asyncio.create_task(self._read(worker)))

    async def _read(self, worker: _Worker) -> None:
        assert worker.process.stdout is not None
        while line := await worker.process.stdout.readline():
            message = json.loads(line)
            if message["event"] == "tick":
                self.latencies.extend(message["latencies_ms"])
                self.window.extend(message["latencies_ms"])
                self.generator_cpu_s += message["cpu_s"]
                self.abnormal_open_s.extend(message.get("abnormal_open_s", []))
                lag_ms = message.get("loop_lag_max_ms", 0.0)
                self.generator_loop_lag_max_ms = max(self.generator_loop_lag_max_ms, lag_ms)
                worker.last = message
                worker.last_at = time.perf_counter()
            elif message["event"] == "final":
                worker.final = message
            else:
                worker.events.append(message)

    async def command(self, payload: dict[str, Any]) -> None:
        for worker in self.workers:
            assert worker.process.stdin is not None
            worker.process.stdin.write((json.dumps(payload) + "\n").encode())
            await worker.process.stdin.drain()

    def total(self, key: str) -> int:
        return sum(int(w.last.get(key, 0)) for w in self.workers)

    def closes(self, key: str = "closes") -> dict[str, int]:
        """A per-worker count (close codes, ``abnormal``, ``connect_failures``) summed."""
        merged: dict[str, int] = {}
        for worker in self.workers:
            for code, count in worker.last.get(key, {}).items():
                merged[code] = merged.get(code, 0) + count
        return merged

    def abnormal_total(self) -> int:
        return sum(self.closes("abnormal").values())

    def connect_failure_total(self) -> int:
        return sum(self.closes("connect_failures").values())

    # ------------------------------------------------------------ progress

    def say(self, text: str) -> None:
        """A line for whoever runs the fleet (nothing when quiet), after any progress line."""
        if not self.config.quiet:
            print(f"\n{text}" if self.interactive else text, flush=True)

    async def sample(self) -> None:
        """Once a second: the timeline, and the progress line (rewritten in place on a
        terminal, one whole line every :data:`PIPE_PROGRESS_EVERY_S` seconds into a pipe)."""
        last_applied = last_abnormal = last_failed = 0
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            applied = self.total("applied")
            window, self.window = self.window, []
            rss = rss_kib(self.server.pid) if self.server and self.server.process else 0
            t = time.perf_counter() - self.started
            self.timeline.seconds.append(round(t, 1))
            self.timeline.connected.append(self.total("connected"))
            self.timeline.deliveries.append(applied - last_applied)
            self.timeline.p99_ms.append(rounded(percentile(window, 99)))
            self.timeline.server_rss_kib.append(rss)
            abnormal, failed = self.abnormal_total(), self.connect_failure_total()
            self.timeline.abnormal_closes.append(abnormal - last_abnormal)
            self.timeline.connect_failures.append(failed - last_failed)
            last_applied, last_abnormal, last_failed = applied, abnormal, failed
            ticks += 1
            line = (
                f"[{t:6.1f}s] connected {self.total('connected'):>6}/{self.config.devices}  changes sent "
                f"{self.changes_sent:>6}  received {applied:>7}  p50 {ms(percentile(window, 50)):>9}  "
                f"p99 {ms(percentile(window, 99)):>9}"
            )
            if self.interactive:
                print(f"\r{line}  ", end="", flush=True)
            elif not self.config.quiet and ticks % PIPE_PROGRESS_EVERY_S == 0:
                print(line, flush=True)

    async def settle(self, quiet_s: float, timeout_s: float = 60.0) -> float:
        """Until no device has applied a change for ``quiet_s`` seconds (so at least that
        long; workers report once a second), at most ``timeout_s``: the seconds waited."""
        began = time.perf_counter()
        last, since = self.total("applied"), began
        while time.perf_counter() - began < timeout_s:
            await asyncio.sleep(0.25)
            applied = self.total("applied")
            if applied != last:
                last, since = applied, time.perf_counter()
            elif time.perf_counter() - since >= quiet_s:
                break
        return time.perf_counter() - began

    async def wait_connected(self, share: float = 1.0, timeout: float = 120.0, after: float = 0.0) -> float:
        """Until every device is connected, by counts reported after ``after`` (a perf_counter time)."""
        started = time.perf_counter()
        while self.total("connected") < self.config.devices * share or any(w.last_at <= after for w in self.workers):
            if any(w.process.returncode is not None for w in self.workers):
                raise WorkerExited("a fleet worker exited before its devices connected (its reason is above)")
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"only {self.total('connected')} of {self.config.devices} devices connected")
            await asyncio.sleep(0.2)
        return time.perf_counter() - started


async def _changes(fleet: Fleet, base: str, agency: BulkAgency, count: int, rate: float, concurrency: int = 20) -> None:
    """``count`` reschedules through the REST API at ``rate`` per second (0: all at once)."""
    headers = {"authorization": f"Bearer {agency.admin_token}"}
    gate = asyncio.Semaphore(concurrency)
    start = datetime.now(UTC) + timedelta(days=3)
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:

        async def one(i: int) -> None:
            device = agency.devices[rng.randrange(len(agency.devices)) if rate else i % len(agency.devices)]
            moment = start + timedelta(minutes=i)
            async with gate:
                try:
                    response = await http.post(
                        f"/api/v1/visits/{device.visit_ids[i % len(device.visit_ids)]}/reschedule",
                        json={"starts_at": moment.isoformat(), "ends_at": (moment + timedelta(minutes=30)).isoformat()},
                    )
                except httpx.HTTPError:
                    fleet.notes["changes_failed"] = fleet.notes.get("changes_failed", 0) + 1
                    return
            if response.status_code == 200:
                fleet.changes_sent += 1
            else:
                fleet.notes["changes_failed"] = fleet.notes.get("changes_failed", 0) + 1

        began = time.perf_counter()
        pending = []
        for i in range(count):
            pending.append(asyncio.create_task(one(i)))
            if rate:
                await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.perf_counter()))
        await asyncio.gather(*pending)


def prepare(config: FleetConfig) -> tuple[list[str], FdNeeds, int]:
    """Before anything starts: the devices' source addresses, the open files each process
    needs and the limit in force (the soft limit, raised). Raises
    :class:`~loadtest.source_addresses.BadSourceAddresses` or :class:`FdLimitTooLow`."""
    host = (urlsplit(config.url).hostname or "") if config.url else "127.0.0.1"
    addresses = choose_source_addresses(config.source_addresses, config.devices, host, ephemeral_port_range())
    needs = fd_needs(config.devices, config.workers, spawns_server=config.url is None)
    limit = raise_soft_limit()
    check_fd_limit(needs, limit, config.devices, config.workers)
    return addresses, needs, limit


def spawned_server_args(config: FleetConfig) -> list[str]:
    """``caresync serve`` flags for the server the fleet starts: the scenario's, and a
    connection cap that holds every device (unless ``--server-arg`` sets one)."""
    server_args = list(config.server_args)
    waits_out_grace = config.scenario in ("storm", "http") and config.storm_grace_s
    if waits_out_grace and "--mismatch-interval" not in server_args:
        server_args += ["--mismatch-interval", str(STORM_DETECTION_INTERVAL_S)]
    wanted = fd_needs(config.devices, config.workers, spawns_server=True).server or 0
    if wanted > SERVER_DEFAULT_MAX_CONNECTIONS and "--max-connections" not in server_args:
        server_args += ["--max-connections", str(wanted)]
    return server_args


def check_server_fd_limit(server: SpawnedServer, needs: FdNeeds, config: FleetConfig) -> int | None:
    """The started server's own open-file limit (it inherits the fleet's); raises
    :class:`FdLimitTooLow` when it cannot hold every device."""
    limit = process_fd_limit(server.pid)
    if limit is not None and needs.server is not None and limit < needs.server:
        server.stop()
        try:
            check_fd_limit(FdNeeds(worker=0, server=needs.server), limit, config.devices, config.workers)
        except FdLimitTooLow as exc:
            raise FdLimitTooLow(f"the server the fleet started: {exc}") from None
    return limit


async def run_fleet(config: FleetConfig) -> dict[str, Any]:
    if config.scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}")
    addresses, needs, fd_limit = prepare(config)
    workdir = Path(tempfile.mkdtemp(prefix="caresync-fleet-"))
    database_url = config.database_url or f"sqlite:///{workdir / 'fleet.db'}"
    db = Database(database_url)
    await db.migrate()
    agency = await bulk_agency_with_admin(db, int(time.time() * 1000), config.devices, 2, 3)
    fleet = Fleet(config)
    fleet.source_addresses = addresses
    fleet.notes["source_addresses"] = addresses or "chosen by the system"
    fleet.notes["fd_limit"] = fd_limit
    if config.url is None:
        server_args = spawned_server_args(config)
        fleet.server = SpawnedServer(database_url, workdir / "server.log", extra_args=server_args)
        await fleet.server.start()
        fleet.notes["server_fd_limit"] = check_server_fd_limit(fleet.server, needs, config)
        fleet.notes["server_log"] = str(workdir / "server.log")
    base = config.url or fleet.server.base_url  # type: ignore[union-attr]
    server_cpu0 = cpu_s(fleet.server.pid) if fleet.server else 0.0
    fleet.server_cpu0 = server_cpu0
    rss0 = rss_kib(fleet.server.pid) if fleet.server else 0
    overflows0 = listen_queue_overflows()
    fleet.started = time.perf_counter()
    sampler = asyncio.create_task(fleet.sample())
    try:
        await fleet.start_workers(base, agency)
        patience = 60 + 2 * config.devices / config.ramp_per_s
        try:
            fleet.notes["connect_all_s"] = round(await fleet.wait_connected(timeout=patience), 2)
        except TimeoutError as exc:
            fleet.notes["connect_all_s"] = f"not reached in {patience:.0f} s: {exc}"
        fleet.notes["connect_wave"] = _connect_wave(fleet, overflows0)
        # The initial replay (what each device missed) is not the scenario's: let it finish.
        fleet.notes["initial_replay_settled_s"] = round(await fleet.settle(SETTLE_QUIET_S), 2)
        if fleet.server:
            fleet.notes["server_rss_per_device_kib"] = round((rss_kib(fleet.server.pid) - rss0) / config.devices, 2)
        if config.idle_measure_s > 0:
            await _measure_idle(fleet)
        fleet.latencies.clear()  # only changes made by the scenario count, not the initial replay
        fleet.scenario_started_ms = int(time.time() * 1000)
        await _scenario(fleet, base, agency)
        await fleet.settle(SETTLE_QUIET_S + 1)  # let deliveries and the acks after them settle
        async with httpx.AsyncClient(timeout=60) as http:
            health = (await http.get(f"{base}/healthz")).json()
        fleet.notes["server_loop_lag_max_ms"] = health.get("loop_lag_max_ms")
        fleet.notes["server_slow_consumers_closed"] = health.get("slow_consumers_closed")
        await fleet.command({"cmd": "stop"})
        for worker in fleet.workers:
            await worker.process.wait()
        await asyncio.sleep(0.2)
    finally:
        sampler.cancel()
        for worker in fleet.workers:
            if worker.process.returncode is None:
                worker.process.kill()
        server_cpu = None
        if fleet.server and fleet.server.process:
            if fleet.server_cpu_before_restart is None:
                server_cpu = cpu_s(fleet.server.pid) - server_cpu0
            else:  # a storm: the restarted process's whole life, and the first process's share
                restarted_cpu = cpu_s(fleet.server.pid)
                fleet.notes["server_cpu_restarted_process_s"] = round(restarted_cpu, 2)
                server_cpu = fleet.server_cpu_before_restart + restarted_cpu
        if fleet.server:
            fleet.server.stop()
    report = await fleet_results(fleet, db, agency, server_cpu)
    await db.close()
    write_report(config.report_dir, report, fleet.timeline, fleet.latencies)
    if fleet.interactive:
        print()
    return report


def _connect_wave(fleet: Fleet, overflows0: dict[str, int]) -> dict[str, Any]:
    """What went wrong, if anything, while every device connected: sockets closed 1006 (by
    how and when), attempts that never opened (by reason), close codes, the generator's
    worst loop lag and the machine's listen-queue overflows."""
    overflows = listen_queue_overflows()
    return {
        "abnormal_closes": fleet.closes("abnormal"),
        "connect_failures": fleet.closes("connect_failures"),
        "close_codes": fleet.closes(),
        "generator_loop_lag_max_ms": fleet.generator_loop_lag_max_ms,
        "listen_queue_overflows": {key: overflows[key] - overflows0.get(key, 0) for key in overflows},
    }


SETTLE_QUIET_S = 2.0
"""Seconds without a delivery that count as settled (before and after the scenario)."""

PIPE_PROGRESS_EVERY_S = 5
"""Seconds between progress lines when stdout is not a terminal."""


IDLE_SETTLE_S = 5.0
"""Seconds after the connect wave before idle is measured: the wave's tail (the last
greetings, their acks, presence and console events, the wave's freeze) is not idle."""


async def _measure_idle(fleet: Fleet) -> None:
    """With ``--idle-measure``: the server's CPU share with every device connected and
    nothing changing, just after the wave (``server_wave_tail_cpu_share``) and once it has
    settled (``server_idle_cpu_share``). Announced, as it adds to the run's time."""
    window = fleet.config.idle_measure_s
    if fleet.server is None:
        fleet.say("idle not measured: --idle-measure needs the server the fleet starts itself (no --url)")
        return
    fleet.say(f"measuring the server's idle CPU: {IDLE_SETTLE_S:g} s for the connect wave to settle, then {window:g} s")
    pid = fleet.server.pid
    tail0, t0 = cpu_s(pid), time.perf_counter()
    await asyncio.sleep(IDLE_SETTLE_S)
    fleet.notes["server_wave_tail_cpu_share"] = round((cpu_s(pid) - tail0) / (time.perf_counter() - t0), 4)
    idle0, t0 = cpu_s(pid), time.perf_counter()
    await asyncio.sleep(window)
    fleet.notes["server_idle_cpu_share"] = round((cpu_s(pid) - idle0) / (time.perf_counter() - t0), 4)


async def _scenario(fleet: Fleet, base: str, agency: BulkAgency) -> None:
    config = fleet.config
    if config.scenario in ("steady", "slow", "flaky"):
        count = int(config.rate * config.duration_s)
        changes = asyncio.create_task(_changes(fleet, base, agency, count, config.rate))
        while config.scenario == "flaky" and not changes.done():
            await fleet.command({"cmd": "drop", "share": config.drop_share})
            await asyncio.sleep(1.0)
        await changes
    elif config.scenario == "burst":
        began = time.perf_counter()
        before = fleet.total("applied")
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {agency.admin_token}"}) as http:
            await http.patch("/api/v1/tenant/preferences", json={"auto_sync_interval_s": 600})
        await _changes(fleet, base, agency, config.burst_size, 0, concurrency=50)
        while fleet.total("applied") - before < config.burst_size and time.perf_counter() - began < 120:
            await asyncio.sleep(0.05)
        fleet.notes["burst_delivered_s"] = round(time.perf_counter() - began, 2)
        fleet.notes["preferences_frames"] = fleet.total("preferences")
    elif config.scenario == "storm":
        await _storm(fleet, base, agency)
    elif config.scenario == "http":
        await _http_only(fleet, base, agency)
    elif config.scenario == "clean":
        began = time.perf_counter()
        await fleet.command({"cmd": "clean"})
        while any(not any(e["event"] == "clean_done" for e in w.events) for w in fleet.workers):
            await asyncio.sleep(0.1)
        fleet.notes["clean_all_done_s"] = round(time.perf_counter() - began, 2)


async def _storm(fleet: Fleet, base: str, agency: BulkAgency) -> None:
    """Changes, SIGKILL right after the last one (acks still in the server's memory die with
    it), ``storm_down_s`` down, restart, every device reconnects, more changes; then, with
    ``storm_grace_s``, wait out a grace period from the restart so a false alert would show."""
    config = fleet.config
    server = fleet.server
    assert server is not None, "storm restarts the server: run it without --url"
    if config.storm_grace_s:
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {agency.admin_token}"}) as http:
            reply = await http.patch("/api/v1/tenant/preferences", json={"mismatch_grace_s": config.storm_grace_s})
            reply.raise_for_status()
    await _changes(fleet, base, agency, int(config.rate * 3), config.rate)
    fleet.server_cpu_before_restart = cpu_s(server.pid) - fleet.server_cpu0
    fleet.notes["server_cpu_first_process_s"] = round(fleet.server_cpu_before_restart, 2)
    server.kill()
    await asyncio.sleep(config.storm_down_s)
    began = time.perf_counter()
    await server.start()
    restarted = time.perf_counter()
    fleet.notes["storm_restart_s"] = round(restarted - began, 2)
    fleet.notes["server_cpu_restart_startup_s"] = round(cpu_s(server.pid), 2)
    patience = max(300.0, 60 + 3 * config.devices / max(1.0, config.ramp_per_s))
    try:
        await fleet.wait_connected(timeout=patience, after=restarted)
        fleet.notes["storm_all_reconnected_s"] = round(time.perf_counter() - restarted, 2)
    except TimeoutError as exc:
        fleet.notes["storm_all_reconnected_s"] = f"not reached in {patience:.0f} s: {exc}"
    reconnect_cpu = cpu_s(server.pid)
    fleet.notes["server_cpu_restart_to_all_reconnected_s"] = round(reconnect_cpu, 2)
    fleet.notes["server_cpu_per_reconnect_ms"] = round(reconnect_cpu / config.devices * 1000, 3)
    await _changes(fleet, base, agency, int(config.rate * 3), config.rate)
    if config.storm_grace_s:
        until = restarted + config.storm_grace_s + 2 * _detection_interval_s(config) + 1
        fleet.notes["storm_alert_window_s"] = round(until - restarted, 1)
        await asyncio.sleep(max(0.0, until - time.perf_counter()))


async def _http_only(fleet: Fleet, base: str, agency: BulkAgency) -> None:
    """HTTP-only devices (no socket): changes at ``rate``, then every device syncs once more
    and holds everything; with ``storm_grace_s``, a grace period is then waited out, so an
    alert for changes a device holds but did not acknowledge would be raised and counted."""
    config = fleet.config
    if config.storm_grace_s:
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {agency.admin_token}"}) as http:
            reply = await http.patch("/api/v1/tenant/preferences", json={"mismatch_grace_s": config.storm_grace_s})
            reply.raise_for_status()
    await _changes(fleet, base, agency, int(config.rate * config.duration_s), config.rate)
    began = time.perf_counter()
    await fleet.command({"cmd": "sync"})
    while any(not any(e["event"] == "sync_done" for e in w.events) for w in fleet.workers):
        await asyncio.sleep(0.1)
    synced = time.perf_counter()
    fleet.notes["http_final_sync_s"] = round(synced - began, 2)
    failures = [f for w in fleet.workers for e in w.events if e["event"] == "sync_done" for f in e.get("failures", [])]
    fleet.notes["http_final_sync_failures"] = failures
    if config.storm_grace_s:
        until = synced + config.storm_grace_s + 2 * _detection_interval_s(config) + 1
        fleet.notes["http_alert_window_s"] = round(until - synced, 1)
        await asyncio.sleep(max(0.0, until - time.perf_counter()))


def _detection_interval_s(config: FleetConfig) -> float:
    """The spawned server's sync-mismatch interval (``--mismatch-interval``, else the storm's)."""
    args = config.server_args
    if "--mismatch-interval" in args[:-1]:
        return float(args[args.index("--mismatch-interval") + 1])
    return STORM_DETECTION_INTERVAL_S
