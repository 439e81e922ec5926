"""Another carer's push latency while one principal floods the node.

    python -m bench.flood [--seconds 10] [--rate 20] [--consoles 200] [--sign-ins-at-once 16]

One node (``caresync serve`` on SQLite) runs pinned to core 0; everything here runs on
core 1. A carer's phone (the real SDK: local store, apply and ack per change) stays
connected throughout; rota changes for that carer go through the REST API at ``--rate``
per second, and each latency is the phone's receipt time minus the change's
``committed_at``. Phases of ``--seconds`` each, one after the other:

- ``quiet``: nothing else;
- ``device``: one device socket sends ``sync_request`` frames of 200 notes on visits that
  do not exist (every mutation rejected) as fast as the socket takes them, reconnecting
  at once when closed;
- ``console``: one coordinator token opens ``--consoles`` console sockets, each sending
  heartbeats as fast as it can and reconnecting at once when closed or refused;
- ``sign-in``: anonymous sign-ins with 200 KB logins, ``--sign-ins-at-once`` in flight,
  each from another forwarded address (the node trusts loopback as its proxy).

Each phase reports the push p50/p99 and the p99's ratio to the quiet phase, the node's
RSS and the database's size (file and WAL) before and after, and what the flood sent and
how the node answered it. Loopback only; every phase stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench.support import free_port, percentile, pin_self, process_cpu_s
from client_sdk import Device
from protocol import PROTOCOL_VERSION
from protocol.frames import Change
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.settings import Settings

NOTES_PER_FRAME = 200
NOTE_CHARS = 1000
LOGIN_BYTES = 200_000


@dataclass
class Agency:
    seeded: SeededAgency
    coordinator_token: str

    @property
    def measured(self) -> SeededCarer:
        return self.seeded.carers[0]

    @property
    def flooder(self) -> SeededCarer:
        return self.seeded.carers[1]


@dataclass
class Flood:
    """What a flood sent and how the node answered."""

    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        answers = ", ".join(f"{k} {v}" for k, v in self.answers.most_common(4))
        closes = ", ".join(f"{k} {v}" for k, v in self.closes.most_common(4)) or "none"
        return f"sent {self.sent}; answers: {answers or 'none'}; closes: {closes}"


@dataclass
class Phase:
    name: str
    latencies: list[float]
    rss_before_mib: float
    rss_after_mib: float
    db_before_bytes: int
    db_after_bytes: int
    flood: Flood | None
    server_cpu_share: float
    """The node's CPU time over the measured seconds (1.0: its whole core)."""


async def _seed(url: str) -> Agency:
    node = Node.build(Settings(database_url=url))
    await node.db.migrate()
    try:
        seeded = await seed_agency(node, carers=2, clients=2, visits_per_carer=1)
        coordinator = await node.directory.create_user(seeded.tenant_id, seeded.branch_id, "Flo", "coordinator")
        token = await node.directory.issue_staff_token(seeded.tenant_id, coordinator)
        return Agency(seeded, token)
    finally:
        await node.db.close()


def _serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The node on core 0, its log in a file (a pipe nobody reads would stall it)."""
    command = [sys.executable, "-m", "server.cli", "serve", "--database-url", url, "--port", str(port)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _close_name(exc: ConnectionClosed) -> str:
    received = exc.rcvd
    return str(received.code) if received is not None else "no close frame"


async def _answers(ws: ClientConnection, flood: Flood) -> None:
    """Count what the node answers (an error by its code, anything else by its type)."""
    async for message in ws:
        head = message[:200] if isinstance(message, str) else message[:200].decode(errors="replace")
        if head.startswith('{"type":"error"'):
            flood.answers[f"error {json.loads(message)['code']}"] += 1
        else:
            flood.answers[head.split('"', 4)[3] if head.startswith('{"type":') else "other"] += 1


async def _socket_flood(
    url: str,
    hello: str,
    flood: Flood,
    stop: asyncio.Event,
    send: Callable[[ClientConnection], Awaitable[None]],
    reconnect_after_s: float,
) -> None:
    """Connect, say hello, then ``send`` as fast as the socket takes it; reconnect after
    ``reconnect_after_s`` (0: at once) when closed."""
    while not stop.is_set():
        reader: asyncio.Task[None] | None = None
        try:
            async with connect(url, max_size=None, compression=None, open_timeout=30) as ws:
                await ws.send(hello)
                reader = asyncio.create_task(_answers(ws, flood))
                while not stop.is_set():
                    await send(ws)
                    flood.sent += 1
                    if not flood.sent % 64:
                        await asyncio.sleep(0)  # let the reader see answers and closes
        except ConnectionClosed as exc:
            flood.closes[_close_name(exc)] += 1
        except (InvalidStatus, InvalidHandshake, OSError, TimeoutError) as exc:
            flood.closes[type(exc).__name__] += 1
            await asyncio.sleep(0.01)
        finally:
            if reader is not None:
                reader.cancel()
        if reconnect_after_s and not stop.is_set():
            await asyncio.sleep(reconnect_after_s)


async def flood_device(
    port: int, stop: asyncio.Event, token: str, device_uuid: str, carer_id: str, reconnect_after_s: float
) -> Flood:
    flood = Flood()
    hello = json.dumps(
        {
            "type": "hello",
            "token": token,
            "device_uuid": device_uuid,
            "app_version": "flood/1",
            "protocol_version": PROTOCOL_VERSION,
            "positions": [],
        }
    )
    note = "n" * NOTE_CHARS
    captured = datetime.now(UTC).isoformat()
    next_id = [int(time.time() * 1000)]

    async def send(ws: ClientConnection) -> None:
        first = next_id[0]
        next_id[0] += NOTES_PER_FRAME
        mutations = ",".join(
            f'{{"kind":"visit_note","mutation_id":{first + i},"carer_id":"{carer_id}",'
            f'"visit_id":"{uuid.uuid4()}","captured_at":"{captured}","text":"{note}"}}'
            for i in range(NOTES_PER_FRAME)
        )
        await ws.send(f'{{"type":"sync_request","request_id":"f{first}","mutations":[{mutations}]}}')

    await _socket_flood(f"ws://127.0.0.1:{port}/ws/device", hello, flood, stop, send, reconnect_after_s)
    return flood


async def flood_consoles(port: int, stop: asyncio.Event, token: str, sockets: int, reconnect_after_s: float) -> Flood:
    flood = Flood()
    hello = json.dumps({"type": "console_hello", "token": token, "positions": []})
    beat = json.dumps({"type": "heartbeat", "heads": []})

    async def send(ws: ClientConnection) -> None:
        await ws.send(beat)

    url = f"ws://127.0.0.1:{port}/ws/console"
    await asyncio.gather(*(_socket_flood(url, hello, flood, stop, send, reconnect_after_s) for _ in range(sockets)))
    return flood


async def flood_sign_ins(port: int, stop: asyncio.Event, at_once: int) -> Flood:
    flood = Flood()
    counter = iter(range(1 << 30))
    padding = b"x" * LOGIN_BYTES

    async def one_client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while not stop.is_set():
                n = next(counter)
                body = b'{"login":"%d@%s","password":"not the password"}' % (n, padding)
                headers = {"x-forwarded-for": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
                headers["content-type"] = "application/json"
                try:
                    answer = await http.post("/api/v1/auth/sign-in", content=body, headers=headers)
                    flood.answers[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    flood.closes[type(exc).__name__] += 1
                flood.sent += 1

    await asyncio.gather(*(one_client() for _ in range(at_once)))
    return flood


async def flooder(args: argparse.Namespace) -> None:
    """A flood in its own process (``--flooder KIND``): it runs ``--for-s`` seconds or until
    SIGTERM, then prints what it sent and how it was answered as one JSON line."""
    os.nice(19)  # the measured phone shares core 1: the flood must not starve it of the CPU
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.call_later(args.for_s, stop.set)
    if args.flooder == "device":
        flood = await flood_device(args.port, stop, args.token, args.device_uuid, args.carer_id, args.reconnect_after_s)
    elif args.flooder == "console":
        flood = await flood_consoles(args.port, stop, args.token, args.consoles, args.reconnect_after_s)
    else:
        flood = await flood_sign_ins(args.port, stop, args.sign_ins_at_once)
    print(json.dumps({"sent": flood.sent, "answers": flood.answers, "closes": flood.closes}), flush=True)


def _start_flooder(kind: str, port: int, agency: Agency, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """The flood in a process of its own on core 1 (sharing the core with this one, not its event loop)."""
    command = [sys.executable, "-m", "bench.flood", "--flooder", kind, "--port", str(port)]
    command += ["--for-s", str(args.warm_up + args.seconds + 10), "--consoles", str(args.consoles)]
    command += ["--sign-ins-at-once", str(args.sign_ins_at_once), "--reconnect-after-s", str(args.reconnect_after_s)]
    if kind == "device":
        carer = agency.flooder
        command += ["--token", carer.device_token, "--device-uuid", carer.device_uuid, "--carer-id", carer.id]
    elif kind == "console":
        command += ["--token", agency.coordinator_token]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "1", *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE)


def _stop_flooder(process: subprocess.Popen[bytes]) -> Flood:
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    lines = out.decode().strip().splitlines()
    if not lines:
        return Flood()
    found = json.loads(lines[-1])
    return Flood(found["sent"], Counter(found["answers"]), Counter(found["closes"]))


async def _wait_http(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(400):
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def _changes(port: int, agency: Agency, seconds: float, rate: float, offset: int, failed: Counter[str]) -> int:
    """Reschedule the measured carer's visit ``rate`` times a second for ``seconds``; the
    changes made (failures are counted in ``failed``)."""
    headers = {"authorization": f"Bearer {agency.seeded.admin_token}"}
    visit = agency.measured.visit_ids[0]
    start_at = datetime.now(UTC) + timedelta(days=1)
    made = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            moment = start_at + timedelta(minutes=offset + made)
            try:
                answer = await http.post(
                    f"/api/v1/visits/{visit}/reschedule",
                    json={"starts_at": moment.isoformat(), "ends_at": (moment + timedelta(minutes=30)).isoformat()},
                )
            except httpx.HTTPError as exc:
                failed[type(exc).__name__] += 1
                continue
            if answer.status_code != 200:
                failed[str(answer.status_code)] += 1
                continue
            made += 1
            await asyncio.sleep(max(0.0, started + made / rate - time.perf_counter()))
    return made


async def run(args: argparse.Namespace, workdir: Path) -> list[Phase]:
    db_path = workdir / "flood.db"
    url = f"sqlite:///{db_path}"
    agency = await _seed(url)
    port = free_port()
    server = _serve(url, port, workdir / "server.log")
    phone: Device | None = None
    flooding: subprocess.Popen[bytes] | None = None
    phases: list[Phase] = []
    try:
        await _wait_http(f"http://127.0.0.1:{port}")
        received: list[float] = []

        def record(change: Change) -> None:
            received.append((datetime.now(UTC) - change.committed_at).total_seconds() * 1000)

        carer = agency.measured
        phone = Device(f"ws://127.0.0.1:{port}/ws/device", carer.device_token, carer.device_uuid, workdir / "phone.db")
        phone.on_change(record)
        await phone.start()
        await asyncio.sleep(1.0)

        offset = 0
        for name in ("quiet", "device", "console", "sign-in"):
            if args.only and name not in args.only and name != "quiet":
                continue
            rss_before, db_before = _rss_mib(server.pid), _db_bytes(db_path)
            flooding = _start_flooder(name, port, agency, args) if name != "quiet" else None
            await asyncio.sleep(args.warm_up)
            received.clear()
            failed: Counter[str] = Counter()
            cpu_before, measured_at = process_cpu_s(server.pid), time.perf_counter()
            made = await _changes(port, agency, args.seconds, args.rate, offset, failed)
            cpu_share = (process_cpu_s(server.pid) - cpu_before) / (time.perf_counter() - measured_at)
            offset += made
            for _ in range(100):  # the last pushes, at most 5 s late
                if len(received) >= made:
                    break
                await asyncio.sleep(0.05)
            latencies = list(received)
            flood = await asyncio.to_thread(_stop_flooder, flooding) if flooding is not None else None
            flooding = None
            await asyncio.sleep(1.0)  # what the flood left in the node's memory, not in flight
            phases.append(
                Phase(
                    name, latencies, rss_before, _rss_mib(server.pid), db_before, _db_bytes(db_path), flood, cpu_share
                )
            )
            _print_phase(phases[-1], phases[0], made, failed)
    finally:
        if flooding is not None:
            flooding.kill()
            flooding.wait(10)
        if phone is not None:
            await phone.stop()
        server.terminate()
        server.wait(10)
    return phases


def _print_phase(phase: Phase, quiet: Phase, made: int, failed: Counter[str]) -> None:
    p50, p99 = percentile(phase.latencies, 50), percentile(phase.latencies, 99)
    ratio = p99 / percentile(quiet.latencies, 99)
    print(
        f"{phase.name:8} pushes {len(phase.latencies)}/{made}  p50 {p50:.1f} ms  p99 {p99:.1f} ms "
        f"({ratio:.2f}x quiet)  RSS {phase.rss_before_mib:.1f} -> {phase.rss_after_mib:.1f} MiB  "
        f"database +{(phase.db_after_bytes - phase.db_before_bytes) / 1024 / 1024:.2f} MiB  "
        f"node CPU {phase.server_cpu_share:.0%}",
        flush=True,
    )
    if failed:
        print(f"         rota changes that failed: {dict(failed)}", flush=True)
    if phase.flood is not None:
        print(f"         flood: {phase.flood.line()}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of rota changes per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="rota changes per second for the measured carer")
    parser.add_argument("--warm-up", type=float, default=1.0, help="seconds a flood runs before measuring")
    parser.add_argument("--consoles", type=int, default=200, help="console sockets of the flooding token")
    parser.add_argument("--sign-ins-at-once", type=int, default=16)
    parser.add_argument(
        "--reconnect-after-s",
        type=float,
        default=0.0,
        help="seconds a flooding socket waits before reconnecting once closed (0: at once, ignoring the close code)",
    )
    parser.add_argument("--only", nargs="*", choices=["device", "console", "sign-in"], help="run only these floods")
    parser.add_argument("--flooder", choices=["device", "console", "sign-in"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--for-s", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--device-uuid", help=argparse.SUPPRESS)
    parser.add_argument("--carer-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flooder:
        await flooder(args)
        return
    pin_self(1)
    print(f"seconds={args.seconds} rate={args.rate}/s consoles={args.consoles} at-once={args.sign_ins_at_once}")
    with tempfile.TemporaryDirectory(prefix="caresync-flood-") as workdir:
        await run(args, Path(workdir))


if __name__ == "__main__":
    asyncio.run(main())
