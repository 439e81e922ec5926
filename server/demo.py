"""``caresync demo``: a whole agency on one machine, showing rota changes reach phones.

Runs on the embedded default (a temporary SQLite file, the in-process bus): seeds an
agency, serves it on loopback, connects SDK devices, makes rota changes through the REST
API, and prints each change as it arrives on a device with the time since its commit.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from client_sdk import Device
from protocol.frames import Change, VisitRemoved
from server.app import DEVICE_SOCKET_PATH
from server.embedded import start_server, stop_server
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.settings import Settings
from server.store.schema import device_acks


def _say(text: str) -> None:
    print(text, flush=True)


async def run_demo(port: int = 0, carers: int = 3, linger_s: float = 0.0) -> int:
    with tempfile.TemporaryDirectory(prefix="caresync-demo-") as workdir:
        settings = Settings(database_url=f"sqlite:///{Path(workdir) / 'demo.db'}", heartbeat_interval_s=5)
        node = Node.build(settings)
        running = await start_server(node, port)
        base = running.base_url
        _say(f"caresync demo: server on {base} (SQLite in {workdir}, in-process bus)")
        try:
            agency = await seed_agency(node, carers=carers, visits_per_carer=4)
            _say(f"seeded agency: 1 branch, {carers} carers, {carers * 4} visits today")
            await _show(node, agency, base, Path(workdir))
            if linger_s:
                _say(f"serving for {linger_s:.0f} more seconds (Ctrl+C to stop)")
                await asyncio.sleep(linger_s)
        finally:
            await stop_server(running)
    _say("demo finished")
    return 0


async def _show(node: Node, agency: SeededAgency, base: str, workdir: Path) -> None:
    ws_url = base.replace("http", "ws") + DEVICE_SOCKET_PATH
    devices: list[Device] = []
    for carer in agency.carers:
        device = Device(ws_url, carer.device_token, carer.device_uuid, workdir / f"{carer.device_uuid}.db")
        device.on_change(_printer(carer.name))
        await device.start()
        devices.append(device)
    await asyncio.sleep(0.5)
    for carer, device in zip(agency.carers, devices, strict=True):
        _say(f"  {carer.name}'s phone holds {len(device.visits(carer.id))} visits")

    first, second = agency.carers[0], agency.carers[1 % len(agency.carers)]
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {agency.admin_token}"}) as http:
        visit = (await http.get(f"/api/v1/visits/{first.visit_ids[0]}")).json()
        starts = datetime.fromisoformat(visit["starts_at"]) + timedelta(minutes=30)
        _say("\noffice: reschedule a visit 30 minutes later")
        await http.post(
            f"/api/v1/visits/{first.visit_ids[0]}/reschedule",
            json={"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(minutes=45)).isoformat()},
        )
        await asyncio.sleep(0.3)
        _say(f"office: sickness cover, reassign a visit from {first.name} to {second.name}")
        await http.post(f"/api/v1/visits/{first.visit_ids[1]}/reassign", json={"carer_ids": [second.id]})
        await asyncio.sleep(0.3)
        _say("office: add a task, then cancel another visit")
        await http.post(f"/api/v1/visits/{second.visit_ids[0]}/tasks", json={"title": "Check fridge"})
        await http.post(f"/api/v1/visits/{second.visit_ids[2]}/cancel")
        await asyncio.sleep(0.5)

    _say(f"\n{first.name} checks in, records tasks and syncs")
    device = devices[0]
    todays = device.visits(first.id)[0]
    device.check_in(first.id, todays.id, at=datetime.now(UTC))
    for task in todays.tasks:
        device.record_task(first.id, todays.id, task.id, done=True)
    device.check_out(first.id, todays.id)
    summary = await device.sync()
    _say(f"  uploaded {summary.uploaded}: " + ", ".join(sorted({r.status for r in summary.results})))

    await asyncio.sleep(0.3)
    await node.activity.flush()
    async with node.db.read() as conn:
        acks = {(r.device_id, r.carer_id): r.seq for r in await conn.execute(select(device_acks))}
    _say("\nacks recorded by the server (device position vs feed head):")
    for carer, dev in zip(agency.carers, devices, strict=True):
        head = dev.positions()[carer.id].seq
        _say(f"  {carer.name}: acked {acks.get((carer.device_id, carer.id), 0)} of {head}")
    for dev in devices:
        await dev.stop()


def _printer(name: str):  # type: ignore[no-untyped-def]
    def show(change: Change) -> None:
        latency_ms = (datetime.now(UTC) - change.committed_at).total_seconds() * 1000
        payload = change.payload
        if isinstance(payload, VisitRemoved):
            what = f"visit removed ({payload.reason})"
        else:
            v = payload.visit
            what = f"{v.client.name} {v.starts_at:%H:%M} {v.status}, {len(v.tasks)} tasks"
        _say(f"  -> {name}'s phone: #{change.seq} {what}  [{latency_ms:.1f} ms after commit]")

    return show
