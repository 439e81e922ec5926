"""One frame fanned out to every connected device: caresync against a bare broadcast.

    python -m bench.fanout [--devices 2000] [--rounds 5] [--no-socketio] [--peers websockets,sansio,wsproto,picows]
    python -m bench.fanout --profile fanout.prof [--profiler cprofile|pyinstrument]

caresync: ``caresync serve`` (SQLite, core 0) with N lean devices connected (core 1);
each round changes a tenant preference through the REST API, which pushes one
``preferences`` frame to every device. Peer: bench/peers/ws_broadcast.py with N plain
sockets; each round broadcasts one frame. ``--peers`` runs other broadcast servers the same
way (bench/broadcast_peers.py: websockets' sans-I/O layer, wsproto, picows; a peer whose
optional package is not installed is skipped, saying so). Reported: time until every device has the
frame (median of rounds), server CPU per delivered frame (median and mean of rounds, from
the scheduler's nanosecond count summed over the server's threads; the user/kernel split
beside it is from clock ticks, 10 ms over N frames, so only its means say much), and server memory per idle
connection (RSS growth from no connections to N), and the server's worst garbage
collection pause (from ``/metrics``; "n/a" for a server that does not report it).

``--profile`` runs the server under bench/profiled_server.py and profiles the rounds
only (not start-up or the connect wave); the caresync run is then not a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.broadcast_peers import PEERS, BroadcastPeer, peer_names
from bench.support import pin_self, spawn_pinned
from loadtest.lean_device import Behaviour, Counters, LeanDevice
from loadtest.lean_socket import LeanSocket
from loadtest.measure import cpu_ns_live_threads, cpu_split_s, free_port, rss_kib
from loadtest.seed import bulk_agency_with_admin
from loadtest.server_process import SpawnedServer
from server.store.database import Database


async def _until(condition, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("not everyone got the frame")
        await asyncio.sleep(0.005)


class ProfiledServer(SpawnedServer):
    """``caresync serve`` under bench/profiled_server.py: SIGUSR1 starts the profiler, SIGUSR2 writes it."""

    def __init__(self, database_url: str, log_path: Path, out: Path, profiler: str) -> None:
        super().__init__(database_url, log_path)
        self.out = out
        self.profiler = profiler

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "bench.profiled_server", str(self.out), self.profiler, "serve"]
        command += ["--database-url", self.database_url, "--port", str(self.port)]
        if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
            command = ["taskset", "-c", "0", *command]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self._spawn()
        async with httpx.AsyncClient() as http:
            for _ in range(400):
                try:
                    if (await http.get(f"{self.base_url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-2000:]}")


_GC_PAUSE = "caresync_gc_pause_max_seconds"
_GC_BUCKET = "caresync_gc_pause_seconds_bucket"
_GC_COUNT = "caresync_gc_collections_total"
_GC_CPU = "caresync_gc_pause_cpu_max_seconds"


async def gc_figures(http: httpx.AsyncClient) -> tuple[float, dict[float, float], str]:
    """The server's worst collection pause so far in ms (NaN if it does not say), its pause
    histogram (cumulative count per bucket bound, in ms), and the worst pause and number of
    collections per generation, as text."""
    page = (await http.get("/metrics")).text
    worst, buckets = float("nan"), {}
    by_generation: dict[str, list[float]] = {}
    for line in page.splitlines():
        if line.startswith(_GC_CPU):
            by_generation.setdefault(line.split('generation="', 1)[1][0], [0, 0, 0])[2] = (
                float(line.rsplit(" ", 1)[1]) * 1000
            )
        elif line.startswith(_GC_PAUSE):
            pause = float(line.rsplit(" ", 1)[1]) * 1000
            worst = pause if worst != worst or pause > worst else worst
            by_generation.setdefault(line.split('generation="', 1)[1][0], [0, 0, 0])[0] = pause
        elif line.startswith(_GC_COUNT):
            by_generation.setdefault(line.split('generation="', 1)[1][0], [0, 0, 0])[1] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(_GC_BUCKET):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound) * 1000] = float(line.rsplit(" ", 1)[1])
    text = ", ".join(
        f"gen {g}: {n:.0f}, worst {w:.1f} ms ({c:.1f} ms CPU)" for g, (w, n, c) in sorted(by_generation.items())
    )
    return worst, buckets, text


def longest_between(before: dict[float, float], after: dict[float, float]) -> tuple[int, float]:
    """Collections between two histogram reads, and the bound (ms) the longest stayed under."""
    count, longest = 0, 0.0
    previous = 0.0
    for bound in sorted(after):
        in_bucket = (after[bound] - before.get(bound, 0.0)) - previous
        previous = after[bound] - before.get(bound, 0.0)
        if in_bucket > 0:
            longest = bound
    count = int(previous)
    return count, longest if count else float("nan")


async def caresync(
    devices: int, rounds: int, workdir: Path, profile: Path | None = None, profiler: str = "cprofile"
) -> dict[str, float]:
    url = f"sqlite:///{workdir / 'fanout.db'}"
    db = Database(url)
    await db.migrate()
    agency = await bulk_agency_with_admin(db, int(time.time() * 1000), devices, 1, 1)
    await db.close()
    if profile is None:
        server = SpawnedServer(url, workdir / "server.log")
    else:
        server = ProfiledServer(url, workdir / "server.log", profile, profiler)
    await server.start()
    rss0 = rss_kib(server.pid)
    if profile is not None and profiler == "tracemalloc":  # the connect wave, not the rounds
        os.kill(server.pid, signal.SIGUSR1)
        await asyncio.sleep(1)
    counters = Counters()
    ws_url = server.base_url.replace("http", "ws") + "/ws/device"
    fleet = [LeanDevice(ws_url, d.token, d.uuid, d.carer_id, counters, Behaviour()) for d in agency.devices]
    tasks = []
    for i, device in enumerate(fleet):
        tasks.append(asyncio.create_task(device.run()))
        if i % 50 == 49:
            await asyncio.sleep(0.8)
    await _until(lambda: all(d.connected for d in fleet), 600)
    await asyncio.sleep(5)
    rss = rss_kib(server.pid)
    if profile is not None and profiler == "tracemalloc":
        os.kill(server.pid, signal.SIGUSR2)
        await asyncio.sleep(5)
        profile = None
    headers = {"authorization": f"Bearer {agency.admin_token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as http:
        intervals = iter(range(600, 600 + rounds))

        async def push() -> None:
            await http.patch("/api/v1/tenant/preferences", json={"auto_sync_interval_s": next(intervals)})

        pause_connect, buckets_before, generations = await gc_figures(http)
        print(f"  caresync collections by the end of the connect wave: {generations or 'n/a'}")
        if profile is not None:
            os.kill(server.pid, signal.SIGUSR1)
            await asyncio.sleep(0.5)
        result = await _rounds(server.pid, devices, rounds, push, lambda: counters.preferences)
        if profile is not None:
            os.kill(server.pid, signal.SIGUSR2)
            await asyncio.sleep(2)
        pause, buckets_after, _ = await gc_figures(http)
    for device in fleet:
        device.stop()
    server.stop()
    collections, longest = longest_between(buckets_before, buckets_after)
    return {
        **result,
        "kib": (rss - rss0) / devices,
        "gc_connect_ms": pause_connect,
        "gc_ms": pause,
        "gc_rounds": collections,
        "gc_rounds_ms": longest,
    }


async def peer(devices: int, rounds: int, spec: BroadcastPeer = PEERS["websockets"]) -> dict[str, float]:
    port = free_port()
    server = spawn_pinned(spec.module_args(port), core=0)
    assert server.stdout is not None
    ready = server.stdout.readline()
    if ready != b"ready\n":
        server.terminate()
        raise RuntimeError(f"{spec.label} did not start: {(ready + server.stdout.read()).decode()[-2000:]}")
    rss0 = rss_kib(server.pid)
    received = [0]

    def on_text(_text: str) -> None:
        received[0] += 1

    sockets = []
    for i in range(devices):
        sock = await LeanSocket.open(f"ws://127.0.0.1:{port}/", on_text, lambda _code: None)
        sock.send("hello")
        sockets.append(sock)
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    await asyncio.sleep(3)
    rss = rss_kib(server.pid)
    control = await LeanSocket.open(f"ws://127.0.0.1:{port}/", lambda _t: None, lambda _c: None)
    control.send("control")
    await asyncio.sleep(0.2)

    async def fanout() -> None:
        control.send("fanout")

    result = await _rounds(server.pid, devices, rounds, fanout, lambda: received[0])
    for sock in sockets:
        sock.close()
    server.terminate()
    return {**result, "kib": (rss - rss0) / devices}


async def _rounds(
    pid: int,
    devices: int,
    rounds: int,
    trigger: Callable[[], Awaitable[None]],
    delivered: Callable[[], int],
    timeout: float = 120.0,
) -> dict[str, float]:
    """One fan-out per round: time until every device has it, and server CPU per frame."""
    times, cpu_per_frame, user_per_frame, system_per_frame = [], [], [], []
    for _ in range(rounds):
        before, (user, system), cpu_ns = delivered(), cpu_split_s(pid), cpu_ns_live_threads(pid)
        started = time.perf_counter()
        await trigger()
        await _until(lambda before=before: delivered() - before >= devices, timeout)
        times.append((time.perf_counter() - started) * 1000)
        cpu_per_frame.append((cpu_ns_live_threads(pid) - cpu_ns) / devices / 1000)
        user_after, system_after = cpu_split_s(pid)
        user_per_frame.append((user_after - user) / devices * 1e6)
        system_per_frame.append((system_after - system) / devices * 1e6)
        await asyncio.sleep(1)
    return {
        "all_ms": statistics.median(times),
        "cpu_us": statistics.median(cpu_per_frame),
        "cpu_mean_us": statistics.fmean(cpu_per_frame),
        "user_mean_us": statistics.fmean(user_per_frame),
        "system_mean_us": statistics.fmean(system_per_frame),
    }


def _ratio(ours: float, theirs: float) -> float:
    """``ours / theirs``; NaN when a figure is zero (a few devices' CPU under one clock tick)."""
    return ours / theirs if theirs else float("nan")


def _attach(state: object, sock: LeanSocket, on_text: object) -> None:
    state["sock"] = sock  # type: ignore[index]
    for text in state.pop("early", []):  # type: ignore[attr-defined]
        on_text(text)  # type: ignore[operator]


async def socketio_peer(devices: int, rounds: int, redis_url: str) -> dict[str, float]:
    """The same fan-out through python-socketio rooms, spoken over lean sockets (engine.io v4)."""
    port = free_port()
    server = spawn_pinned(["-m", "bench.peers.socketio_rooms", str(port), redis_url], core=0)
    assert server.stdout is not None
    server.stdout.readline()
    await asyncio.sleep(2.0)
    rss0 = rss_kib(server.pid)
    received = [0]
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"

    def client(carer: str) -> tuple[object, object]:
        state: dict[str, LeanSocket] = {}

        def on_text(text: str) -> None:
            if "sock" not in state:  # arrived during the handshake: answered once open
                state.setdefault("early", []).append(text)  # type: ignore[attr-defined, arg-type]
                return
            if text.startswith("0"):  # engine.io open: connect to the default namespace
                state["sock"].send("40")
            elif text.startswith("40"):
                state["sock"].send(f'42["join","{carer}"]')
            elif text == "2":  # engine.io ping
                state["sock"].send("3")
            elif text.startswith('42["preferences"'):
                received[0] += 1

        return state, on_text

    sockets = []
    for i in range(devices):
        state, on_text = client(f"carer-{i}")
        sock = await LeanSocket.open(url, on_text, lambda _code: None)  # type: ignore[arg-type]
        _attach(state, sock, on_text)
        sockets.append(sock)
        if i % 100 == 99:
            await asyncio.sleep(0.1)
    await asyncio.sleep(5)
    rss = rss_kib(server.pid)
    control_state, control_text = client("control")
    control = await LeanSocket.open(url, control_text, lambda _code: None)  # type: ignore[arg-type]
    _attach(control_state, control, control_text)
    await asyncio.sleep(1)

    async def fanout() -> None:
        control.send('42["fanout"]')

    result = await _rounds(server.pid, devices, rounds, fanout, lambda: received[0], timeout=300)
    for sock in sockets:
        sock.close()
    server.terminate()
    return {**result, "kib": (rss - rss0) / devices}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="for the python-socketio peer")
    parser.add_argument("--no-socketio", action="store_true", help="skip the python-socketio peer")
    parser.add_argument(
        "--peers",
        type=peer_names,
        default=["websockets"],
        help=f"broadcast peers to run, comma-separated, from: {', '.join(PEERS)} (default: websockets)",
    )
    parser.add_argument("--profile", type=Path, help="profile the server during the rounds, written here")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument", "tracemalloc"), default="cprofile")
    args = parser.parse_args()
    pin_self(1)
    with tempfile.TemporaryDirectory() as workdir:
        profile = args.profile.resolve() if args.profile is not None else None
        ours = await caresync(args.devices, args.rounds, Path(workdir), profile, args.profiler)
    if args.profile is not None:
        print(f"profile of the server during the rounds written to {args.profile}")
    peers: dict[str, dict[str, float]] = {}
    for name in args.peers:
        missing = PEERS[name].missing()
        if missing:
            print(f"peer {name} skipped: {', '.join(missing)} not installed (pip install {' '.join(missing)})")
            continue
        peers[name] = await peer(args.devices, args.rounds, PEERS[name])
    sio = None if args.no_socketio else await socketio_peer(args.devices, args.rounds, args.redis_url)
    print(f"devices={args.devices} rounds={args.rounds} (medians)")
    rows = [("caresync preferences push", ours), *((PEERS[name].label, r) for name, r in peers.items())]
    if sio is not None:
        rows.append(("peer python-socketio rooms", sio))
    for name, r in rows:
        line = (
            f"  {name:28s} all delivered {r['all_ms']:7.1f} ms | server CPU {r['cpu_us']:6.1f} us/frame "
            f"(mean of rounds {r['cpu_mean_us']:5.1f}: user {r['user_mean_us']:4.1f}, "
            f"kernel {r['system_mean_us']:4.1f})"
        )
        print(f"{line} | {r['kib']:5.1f} KiB/connection")
    print(
        f"  caresync worst gc pause: {ours['gc_connect_ms']:.1f} ms by the end of the connect wave, "
        f"{ours['gc_ms']:.1f} ms by the end of the rounds; {ours['gc_rounds']:.0f} collections during the "
        f"rounds, the longest under {ours['gc_rounds_ms']:g} ms"
    )
    theirs = peers.get("websockets")
    if theirs is not None:
        print(
            f"  ratios caresync/peer: time {_ratio(ours['all_ms'], theirs['all_ms']):.1f}x, CPU per frame "
            f"{_ratio(ours['cpu_us'], theirs['cpu_us']):.1f}x (by the means "
            f"{_ratio(ours['cpu_mean_us'], theirs['cpu_mean_us']):.2f}x), "
            f"memory per connection {_ratio(ours['kib'], theirs['kib']):.1f}x, "
            f"deliveries per second {_ratio(theirs['all_ms'], ours['all_ms']):.2f}x, per CPU second "
            f"{_ratio(theirs['cpu_us'], ours['cpu_us']):.2f}x"
        )
    for name, other in peers.items():
        if name != "websockets":
            print(
                f"  ratios caresync/{name}: time {_ratio(ours['all_ms'], other['all_ms']):.2f}x, CPU per frame "
                f"{_ratio(ours['cpu_us'], other['cpu_us']):.2f}x, "
                f"memory per connection {_ratio(ours['kib'], other['kib']):.2f}x"
            )
    if sio is not None:
        print(
            f"  ratios caresync/socketio: time {ours['all_ms'] / sio['all_ms']:.2f}x, CPU per frame "
            f"{ours['cpu_us'] / sio['cpu_us']:.2f}x, memory per connection {ours['kib'] / sio['kib']:.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
