"""PostgreSQL and Redis load per rota change, with connected devices acknowledging.

    python -m bench.store_load [--devices 50] [--changes 500] [--idle-s 10]

One node in this process on a fresh PostgreSQL database and a redis-server of its own
(so nobody else's commands are counted), ``--devices`` SDK phones connected, one carer
each. First an idle window (``--idle-s``) measures what the node does on its own
(presence touches, the hub's heads reads, device-effect polls, detection passes); then
``--changes`` reschedules go through the REST API one at a time and the run waits until
every phone holds them and its acks are in the store. Each window is read once the
server's statistics have caught up with it (:data:`STATS_FLUSH_S`), so a run takes about
a minute. Reported per change, the idle rate subtracted: PostgreSQL transactions
committed (reads included) and rows inserted, updated and deleted in the database
(``pg_stat_database``) and per table (``pg_stat_user_tables``), and Redis ``PUBLISH``
calls and bytes received (``INFO``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from redis.asyncio import Redis
from sqlalchemy import text

from bench.mismatch_detection import fresh_postgres
from client_sdk import Device
from client_sdk.backoff import Backoff
from server.embedded import start_server, stop_server
from server.node import Node
from server.seeding import seed_agency
from server.settings import Settings
from server.store.database import Database

PG_FIGURES = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted")


@dataclass(frozen=True)
class Sample:
    at: float
    pg: dict[str, int]
    publishes: int
    redis_bytes_in: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _sample(db: Database, redis: Redis) -> Sample:
    async with db.read() as conn:
        row = (
            await conn.execute(
                text(f"SELECT {', '.join(PG_FIGURES)} FROM pg_stat_database WHERE datname = current_database()")
            )
        ).one()
        tables = {
            f"{r.relname}.{kind}": int(getattr(r, kind))
            for r in await conn.execute(
                text("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables")
            )
            for kind in ("n_tup_ins", "n_tup_upd", "n_tup_del")
        }
    commands = await redis.info("commandstats")
    stats = await redis.info("stats")
    publishes = int(commands.get("cmdstat_publish", {}).get("calls", 0))
    figures = dict(zip(PG_FIGURES, map(int, row), strict=True)) | tables
    return Sample(time.monotonic(), figures, publishes, stats["total_net_input_bytes"])


def _rates(before: Sample, after: Sample) -> dict[str, float]:
    seconds = after.at - before.at
    figures = {name: (after.pg.get(name, 0) - before.pg.get(name, 0)) / seconds for name in after.pg}
    figures["publishes"] = (after.publishes - before.publishes) / seconds
    figures["redis_bytes_in"] = (after.redis_bytes_in - before.redis_bytes_in) / seconds
    return figures


STATS_FLUSH_S = 11.0
"""A PostgreSQL 15 backend reports its counts at most once a second while busy and within
10 s once idle: a window's figures are read this long after it ends."""


async def _stats_settled(db: Database) -> None:
    async with db.read() as conn:
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await asyncio.sleep(STATS_FLUSH_S)


def _start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of this run's own, persisting nothing."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    return process, f"redis://127.0.0.1:{port}/0"


async def run(admin_url: str, redis_url: str, devices: int, changes: int, idle_s: float) -> None:
    redis: Redis = Redis.from_url(redis_url)
    for _ in range(100):
        try:
            await redis.ping()
            break
        except Exception:
            await asyncio.sleep(0.05)
    url = await fresh_postgres(admin_url)
    node = Node.build(Settings(database_url=url, redis_url=redis_url))
    running = await start_server(node)
    probe = Database(url)
    phones: list[Device] = []
    try:
        agency = await seed_agency(node, carers=devices, clients=4, visits_per_carer=2)
        with tempfile.TemporaryDirectory() as folder:
            for carer in agency.carers:
                phone = Device(
                    running.ws_url,
                    carer.device_token,
                    carer.device_uuid,
                    Path(folder) / f"{carer.device_uuid}.db",
                    backoff=Backoff(base_s=0.05, cap_s=0.5),
                )
                await phone.start()
                phones.append(phone)
            await asyncio.sleep(5)  # the connect wave's acks, presence and console events written
            await _stats_settled(probe)
            idle_from = await _sample(probe, redis)
            await asyncio.sleep(idle_s)
            await _stats_settled(probe)
            idle_to = await _sample(probe, redis)

            visits = [(carer, v) for carer in agency.carers for v in carer.visit_ids]
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
            headers = {"authorization": f"Bearer {agency.admin_token}"}
            async with httpx.AsyncClient(base_url=running.base_url, headers=headers, timeout=30) as http:
                for i in range(changes):
                    _, visit_id = visits[i % len(visits)]
                    at = start + timedelta(minutes=i)
                    body = {"starts_at": at.isoformat(), "ends_at": (at + timedelta(minutes=30)).isoformat()}
                    (await http.post(f"/api/v1/visits/{visit_id}/reschedule", json=body)).raise_for_status()
            await _wait_level(probe, devices, changes)
            await _stats_settled(probe)
            busy_to = await _sample(probe, redis)
        idle = _rates(idle_from, idle_to)
        seconds = busy_to.at - idle_to.at
        busy = _rates(idle_to, busy_to)
        print(f"{devices} phones, {changes} changes in {seconds:.1f} s (idle window {idle_s:.0f} s subtracted)")
        print("figure | per change | idle, per second")
        tables = sorted(name for name in busy if "." in name and (busy[name] or idle.get(name)))
        for name in (*PG_FIGURES, *tables, "publishes", "redis_bytes_in"):
            per_change = (busy[name] - idle.get(name, 0.0)) * seconds / changes
            print(f"{name} | {per_change:.2f} | {idle.get(name, 0.0):.2f}")
    finally:
        for phone in phones:
            await phone.stop()
        await stop_server(running)
        await probe.close()
        await redis.aclose()


async def _wait_level(db: Database, devices: int, changes: int) -> None:
    """Until every feed's acknowledged position is its head (the phones applied and acked all)."""
    query = text(
        "SELECT count(*) FROM feeds f JOIN device_acks a ON a.carer_id = f.carer_id "
        "AND a.epoch = f.epoch AND a.seq = f.head_seq"
    )
    deadline = time.monotonic() + 60 + changes / 10
    while time.monotonic() < deadline:
        async with db.read() as conn:
            if (await conn.execute(query)).scalar_one() >= devices:
                return
        await asyncio.sleep(0.2)
    raise SystemExit("the phones did not acknowledge every change in time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    process, redis_url = _start_redis()
    try:
        asyncio.run(run(args.postgres_admin_url, redis_url, args.devices, args.changes, args.idle_s))
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
