"""The office resets a carer's feed to a new epoch (docs/protocol.md, section 2, "How an
epoch changes"): a connected phone learns of it live and keeps its socket, an offline one
on its next connection; both end with exactly the carer's current visits; acks of the old
epoch count for nothing, and no alert is raised for a phone that holds the new epoch."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from client_sdk import Device
from client_sdk.backoff import Backoff
from protocol import PROTOCOL_VERSION
from protocol.codec import decode_server_frame, encode
from protocol.errors import ErrorCode
from protocol.frames import FeedPosition, Hello, Welcome
from server.clock import ManualClock, SystemClock, to_datetime
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.settings import Settings
from server.store.schema import device_acks, mismatch_alerts
from tests.cluster import ServeProcess
from tests.conftest import RunningServer, start_server, stop_server
from tests.conftest import test_settings as settings_for
from tests.support import device_matches_server, eventually, make_device, server_visits

pytestmark = pytest.mark.e2e

GRACE_S = 120
"""The tenant's default mismatch grace."""


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[RunningServer]:
    """A node on each store whose clock moves only when the test says (mismatch passes by hand)."""
    clock = ManualClock(SystemClock().now_ms())
    node = Node.build(settings_for(tmp_path, database_url=database_url, mismatch_interval_s=0), clock=clock)
    started = await start_server(node)
    yield started
    await stop_server(started)


def _clock(running: RunningServer) -> ManualClock:
    clock = running.node.clock
    assert isinstance(clock, ManualClock)
    return clock


async def _spare_phone(
    running: RunningServer, agency: SeededAgency, carer_id: str, tmp_path: Path
) -> tuple[str, Callable[[], Device]]:
    """A second phone of the carer: its id, and the app on it (started again after a stop,
    as a phone's app is, on the same local store)."""
    device_uuid = str(uuid.uuid4())
    created = await running.node.devices.create_device(
        agency.tenant_id, uuid=device_uuid, name="Spare phone", carer_ids=[carer_id], branch_id=agency.branch_id
    )
    assert created.token is not None
    token = created.token

    def app() -> Device:
        return Device(
            running.ws_url, token, device_uuid, tmp_path / "spare.db", backoff=Backoff(base_s=0.05, cap_s=0.5)
        )

    return created.device_id, app


async def _reset(running: RunningServer, token: str, carer_id: str) -> dict[str, object]:
    async with running.http(token) as http:
        answer = await http.post(f"/api/v1/carers/{carer_id}/feed/reset")
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def _acks(running: RunningServer, device_id: str, carer_id: str) -> tuple[int, int] | None:
    async with running.node.db.read() as conn:
        row = (
            await conn.execute(
                select(device_acks.c.epoch, device_acks.c.seq).where(
                    device_acks.c.device_id == device_id, device_acks.c.carer_id == carer_id
                )
            )
        ).first()
    return None if row is None else (int(row.epoch), int(row.seq))


async def _open_alerts(running: RunningServer, carer_id: str) -> list[str]:
    async with running.node.db.read() as conn:
        rows = await conn.execute(
            select(mismatch_alerts.c.id).where(
                mismatch_alerts.c.carer_id == carer_id, mismatch_alerts.c.status == "open"
            )
        )
        return [r.id for r in rows]


async def test_connected_and_offline_phones_end_with_the_carers_visits_in_the_new_epoch(
    served: RunningServer, tmp_path: Path
) -> None:
    node = served.node
    agency = await seed_agency(node, carers=2, visits_per_carer=3, day=to_datetime(node.clock.now_ms()))
    carer, other = agency.carers
    connected = await make_device(served, carer, tmp_path)
    spare_id, spare_app = await _spare_phone(served, agency, carer.id, tmp_path)
    spare = spare_app()
    try:
        await spare.start()
        await eventually(lambda: device_matches_server(spare, node, agency.admin, carer.id))
        await spare.stop()
        # While the spare phone is away, one visit moves to another carer and one is cancelled:
        # a phone that replayed the new epoch without dropping its copy would keep the first.
        await node.rota.reassign(agency.admin, carer.visit_ids[0], [other.id])
        await node.rota.cancel(agency.admin, carer.visit_ids[1])
        await eventually(lambda: device_matches_server(connected, node, agency.admin, carer.id))
        old = connected.positions()[carer.id]
        await eventually(lambda: _acks_at(served, carer.device_id, carer.id, (old.epoch, old.seq)))

        answer = await _reset(served, agency.admin_token, carer.id)
        current = await server_visits(node, agency.admin, carer.id)
        assert answer == {"carer_id": carer.id, "epoch": old.epoch + 1, "head": len(current)}
        new = FeedPosition(feed=carer.id, epoch=old.epoch + 1, seq=len(current))

        # The connected phone learns of it on its socket and replays the new epoch.
        await eventually(lambda: connected.positions()[carer.id] == new)
        assert connected.visits(carer.id) == current
        # Pushes in the new epoch reach the same socket, and its acks count.
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=5)
        await node.rota.reschedule(agency.admin, carer.visit_ids[2], start, start + timedelta(minutes=30))
        await eventually(lambda: connected.positions()[carer.id].seq == new.seq + 1)
        assert await device_matches_server(connected, node, agency.admin, carer.id)
        await eventually(lambda: _acks_at(served, carer.device_id, carer.id, (new.epoch, new.seq + 1)))
        assert connected.link.drops == 0, "the socket was kept"
        assert [e.code for e in connected.errors if e.code == ErrorCode.STALE_EPOCH] == []

        # The spare phone comes back with its old-epoch copy and replays the new epoch.
        assert spare_app().positions()[carer.id].epoch == old.epoch
        spare = spare_app()
        await spare.start()
        after = FeedPosition(feed=carer.id, epoch=new.epoch, seq=new.seq + 1)
        await eventually(lambda: spare.positions()[carer.id] == after)
        assert await device_matches_server(spare, node, agency.admin, carer.id)
        await eventually(lambda: _acks_at(served, spare_id, carer.id, (after.epoch, after.seq)))

        # A grace period later, no alert for the carer, whose phones hold the new epoch (the
        # other carer, whose phone never took the visit moved to them, has one).
        _clock(served).advance(GRACE_S + 60)
        await node.mismatch.run_once()
        assert await _open_alerts(served, carer.id) == []
        assert len(await _open_alerts(served, other.id)) == 1
    finally:
        await connected.stop()
        await spare.stop()


async def _acks_at(running: RunningServer, device_id: str, carer_id: str, position: tuple[int, int]) -> bool:
    return await _acks(running, device_id, carer_id) == position


async def test_a_phone_away_during_a_reset_is_behind_not_in_error_until_it_replays(
    served: RunningServer, tmp_path: Path
) -> None:
    node = served.node
    agency = await seed_agency(node, carers=1, visits_per_carer=3, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    phone = await make_device(served, carer, tmp_path)
    await eventually(lambda: _acks_at(served, carer.device_id, carer.id, (1, 3)))
    await phone.stop()

    answer = await _reset(served, agency.admin_token, carer.id)
    _clock(served).advance(GRACE_S + 60)
    await node.mismatch.run_once()

    async with served.http(agency.admin_token) as http:
        (alert,) = (await http.get("/api/v1/alerts", params={"carer_id": carer.id})).json()["alerts"]
        (row,) = (await http.get("/api/v1/reports/devices", params={"user_id": carer.id})).json()["devices"]
    assert alert["diagnosis"] == "offline"
    assert (alert["first_unacked_seq"], alert["head_seq"]) == (1, answer["head"])
    assert [(d["state"], d["acked_seq"], d["head_seq"]) for d in alert["devices"]] == [("offline", 0, 3)]
    assert (row["sync_lag_changes"], row["last_api_call_ok"]) == (3, True), "behind, not failing"

    phone = await make_device(served, carer, tmp_path)
    try:
        await eventually(lambda: phone.positions()[carer.id] == FeedPosition(feed=carer.id, epoch=2, seq=3))
        assert await device_matches_server(phone, node, agency.admin, carer.id)
        await eventually(lambda: _no_open_alert(served, carer.id))
    finally:
        await phone.stop()


async def _no_open_alert(running: RunningServer, carer_id: str) -> bool:
    return await _open_alerts(running, carer_id) == []


async def _seed_for_processes(database_url: str) -> tuple[Node, SeededAgency]:
    seeder = Node.build(Settings(database_url=database_url))
    await seeder.db.migrate()
    return seeder, await seed_agency(seeder, carers=1, visits_per_carer=2, day=to_datetime(seeder.clock.now_ms()))


async def test_a_reset_on_one_node_reaches_a_phone_and_the_greetings_of_another(
    postgres_url: str, redis_server_url: str, tmp_path: Path
) -> None:
    """Heartbeats are rare here (600 s): only the bus can tell node B of the new epoch."""
    seeder, agency = await _seed_for_processes(postgres_url)
    carer = agency.carers[0]
    a, b = (ServeProcess(postgres_url, redis_server_url, name, tmp_path, heartbeat_s=600) for name in ("a", "b"))
    phone = Device(b.ws_url, carer.device_token, carer.device_uuid, tmp_path / "phone.db", backoff=Backoff(0.05, 0.3))
    try:
        await a.start()
        await b.start()
        await phone.start()
        level = FeedPosition(feed=carer.id, epoch=1, seq=2)
        await eventually(lambda: phone.positions()[carer.id] == level)
        async with httpx.AsyncClient(
            base_url=a.base_url, headers={"authorization": f"Bearer {agency.admin_token}"}
        ) as http:
            reset = await http.post(f"/api/v1/carers/{carer.id}/feed/reset")
            assert reset.status_code == 200, reset.text
            await eventually(lambda: phone.positions()[carer.id] == FeedPosition(feed=carer.id, epoch=2, seq=2))
            # Node B's greetings see the new epoch too: a hello at the old head is a reset.
            spare_uuid = str(uuid.uuid4())
            spare = await seeder.devices.create_device(
                agency.tenant_id, uuid=spare_uuid, name="Spare phone", carer_ids=[carer.id]
            )
            assert spare.token is not None
            welcome = await _hello_at(b.ws_url, spare.token, spare_uuid, level)
            assert [(f.epoch, f.head, f.action) for f in welcome.feeds] == [(2, 2, "reset")]
            notes = await http.patch(f"/api/v1/visits/{carer.visit_ids[0]}", json={"notes": "ring twice"})
            assert notes.status_code == 200, notes.text
        await eventually(lambda: phone.positions()[carer.id] == FeedPosition(feed=carer.id, epoch=2, seq=3))
        assert phone.link.drops == 0
    finally:
        await phone.stop()
        a.stop()
        b.stop()
        await seeder.db.close()


async def _hello_at(url: str, token: str, device_uuid: str, position: FeedPosition) -> Welcome:
    """A phone's ``welcome`` when it says hello at ``position``."""
    async with connect(url) as ws:
        hello = Hello(
            token=token, device_uuid=device_uuid, app_version="raw/1", protocol_version=PROTOCOL_VERSION,
            positions=[position],
        )  # fmt: skip
        await ws.send(encode(hello).decode())
        while True:
            frame = decode_server_frame(await ws.recv())
            if isinstance(frame, Welcome):
                return frame


async def test_the_cli_resets_a_feed_under_a_running_embedded_server(tmp_path: Path) -> None:
    """Another process on the embedded default: the node finds the new epoch at its next
    heads read (a heartbeat interval, 0.5 s here) and tells the phone then."""
    url = f"sqlite:///{tmp_path / 'server.db'}"
    seeder, agency = await _seed_for_processes(url)
    carer = agency.carers[0]
    server = ServeProcess(url, None, "solo", tmp_path)
    phone = Device(
        server.ws_url, carer.device_token, carer.device_uuid, tmp_path / "phone.db", backoff=Backoff(0.05, 0.3)
    )
    try:
        await server.start()
        await phone.start()
        await eventually(lambda: phone.positions()[carer.id] == FeedPosition(feed=carer.id, epoch=1, seq=2))
        env = {k: v for k, v in os.environ.items() if k != "CARESYNC_REDIS_URL"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "feed", "reset", carer.id, "--tenant", agency.tenant_id,
            "--database-url", url, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()
        assert output.decode().splitlines() == [f"carer_id={carer.id}", "epoch=2", "head=2"]
        await eventually(lambda: phone.positions()[carer.id] == FeedPosition(feed=carer.id, epoch=2, seq=2))
        assert await device_matches_server(phone, seeder, agency.admin, carer.id)
        assert phone.link.drops == 0
    finally:
        await phone.stop()
        server.stop()
        await seeder.db.close()
