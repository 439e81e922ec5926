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
import msgspec
from sqlalchemy import select, update

from client_sdk import Device
from protocol.console import AlertView
from protocol.frames import Change, VisitRemoved
from server.embedded import start_server, stop_server
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.settings import Settings
from server.store.schema import device_acks, mismatch_alerts, tenants
from server.ws.paths import DEVICE_SOCKET_PATH


def _say(text: str) -> None:
    print(text, flush=True)


DEMO_LOGIN = "coordinator@demo.local"
DEMO_PASSWORD = "caresync-demo"
DEMO_GRACE_S = 10


async def run_demo(port: int = 0, carers: int = 3, linger_s: float = 0.0) -> int:
    with tempfile.TemporaryDirectory(prefix="caresync-demo-") as workdir:
        settings = Settings(
            database_url=f"sqlite:///{Path(workdir) / 'demo.db'}", heartbeat_interval_s=5, mismatch_interval_s=2
        )
        node = Node.build(settings)
        running = await start_server(node, port)
        base = running.base_url
        _say(f"caresync demo: server on {base} (SQLite in {workdir}, in-process bus)")
        try:
            agency = await seed_agency(node, carers=carers, visits_per_carer=4)
            await _office_login(node, agency)
            _say(f"seeded agency: 1 branch, {carers} carers, {carers * 4} visits today")
            _say(f"office console: {base}/console  (sign in as {DEMO_LOGIN} / {DEMO_PASSWORD})")
            await _show(node, agency, base, Path(workdir))
            await _mismatch(node, agency, base, Path(workdir))
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
    await _delivered_then_seen(base, agency.admin_token, first.name, device)

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


async def _delivered_then_seen(base: str, token: str, name: str, device: Device) -> None:
    """The second ledger: a change on the phone (delivered) is not yet one the carer saw."""
    awaiting = device.awaiting_seen()
    if not awaiting:
        return
    change = awaiting[-1]
    _say(f"\n{name}'s phone holds {len(awaiting)} change(s) awaiting {name}'s acknowledgement")
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}) as http:

        async def show() -> None:
            history = (await http.get(f"/api/v1/visits/{change.visit_id}/seen")).json()
            for entry in history["changes"]:
                if (entry["epoch"], entry["seq"]) == (change.epoch, change.seq):
                    seen = entry["seen"]
                    state = f"seen at {seen['seen_at']} on {seen['device_name']}" if seen else "not seen"
                    delivered = "delivered" if entry["delivered"] else "not delivered"
                    _say(f"  office: change #{change.seq} ({entry['change']}): {delivered}, {state}")

        await show()
        _say(f"{name} opens the app and taps 'seen'")
        await device.acknowledge()
        await show()


async def _office_login(node: Node, agency: SeededAgency) -> None:
    directory = node.directory
    coordinator = await directory.create_user(agency.tenant_id, agency.branch_id, "Demo Coordinator", "coordinator")
    await node.staff_auth.set_password(agency.tenant_id, coordinator, DEMO_LOGIN, DEMO_PASSWORD)
    async with node.db.write() as conn:
        await conn.execute(update(tenants).values(mismatch_grace_s=DEMO_GRACE_S))


async def _mismatch(node: Node, agency: SeededAgency, base: str, workdir: Path) -> None:
    """A phone goes offline, its visit changes, the office is told; the phone comes back."""
    carer = agency.carers[-1]
    _say("")
    _say(f"{carer.name}'s phone goes offline; the office moves their next visit an hour earlier.")
    visit = await node.rota.get_visit(agency.admin, carer.visit_ids[-1])
    earlier = timedelta(hours=1)
    await node.rota.reschedule(agency.admin, visit.id, visit.starts_at - earlier, visit.ends_at - earlier)
    _say(f"  grace period {DEMO_GRACE_S} s; watch {base}/console/notifications")
    alert = await _wait_for_alert(node, carer.id, "open", 60)
    if alert is not None:
        _say(f"  SYNC MISMATCH raised for {carer.name}: {alert}")
    ws_url = base.replace("http", "ws") + DEVICE_SOCKET_PATH
    back = Device(ws_url, carer.device_token, carer.device_uuid, workdir / f"{carer.device_uuid}.db")
    back.on_change(_printer(carer.name))
    _say(f"{carer.name}'s phone comes back online:")
    await back.start()
    if await _wait_for_alert(node, carer.id, "resolved", 30) is not None:
        _say("  the phone acknowledged the change: the alert resolved by itself")
    await back.stop()


async def _wait_for_alert(node: Node, carer_id: str, status: str, timeout_s: float) -> str | None:
    query = select(mismatch_alerts).where(mismatch_alerts.c.carer_id == carer_id, mismatch_alerts.c.status == status)
    for _ in range(int(timeout_s / 0.25)):
        async with node.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is not None:
            view = msgspec.json.decode(row.details, type=AlertView)
            return f"{view.severity} severity, {view.diagnosis}; {view.action}"
        await asyncio.sleep(0.25)
    return None


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
