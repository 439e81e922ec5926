"""Office input cannot poison a carer's feed.

The REST API (and the console, through the same services) refuses input beyond the wire
limits with a clear 422; no change a conforming device cannot decode is ever stored; and
a device whose feed already holds such an entry (written before these checks existed)
still converges, over the socket, over HTTP and by clean sync.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, update

from protocol.codec import decode_server_frame
from protocol.frames import SyncRequest, SyncResponse
from protocol.limits import MAX_CHANGE_FRAME_BYTES, MAX_LONG_TEXT_CHARS, MAX_SHORT_TEXT_CHARS, MAX_TASKS_PER_VISIT
from server.node import Node
from server.seeding import SeededAgency, seed_agency
from server.store.schema import clients, feed_entries, feeds, visits
from tests.conftest import RunningServer
from tests.support import device_matches_server, eventually, make_device


async def _head(node: Node, carer_id: str) -> int:
    async with node.db.read() as conn:
        return int((await conn.execute(select(feeds.c.head_seq).where(feeds.c.carer_id == carer_id))).scalar_one())


def _visit_body(agency: SeededAgency, **fields: object) -> dict[str, object]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    body: dict[str, object] = {
        "client_id": agency.client_ids[0],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "carer_ids": [agency.carers[0].id],
    }
    body.update(fields)
    return body


def _refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 422, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid_input", error
    assert words in error["message"], error


async def test_notes_longer_than_the_wire_limit_are_refused(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    visit_id = carer.visit_ids[0]
    head = await _head(running.node, carer.id)
    async with running.http(agency.admin_token) as http:
        too_long = await http.patch(f"/api/v1/visits/{visit_id}", json={"notes": "n" * (MAX_LONG_TEXT_CHARS + 1)})
        _refused(too_long, "10000 characters")
        created = await http.post("/api/v1/visits", json=_visit_body(agency, notes="n" * (MAX_LONG_TEXT_CHARS + 1)))
        _refused(created, "10000 characters")
        assert await _head(running.node, carer.id) == head, "a refused change reached the feed"
        at_limit = await http.patch(f"/api/v1/visits/{visit_id}", json={"notes": "n" * MAX_LONG_TEXT_CHARS})
        assert at_limit.status_code == 200, at_limit.text


async def test_client_names_and_addresses_longer_than_the_wire_limit_are_refused(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    async with running.http(agency.admin_token) as http:
        address = await http.post(
            "/api/v1/clients",
            json={"branch_id": agency.branch_id, "name": "Mrs Long", "address": "a" * (MAX_SHORT_TEXT_CHARS + 1)},
        )
        _refused(address, "200 characters")
        name = await http.post(
            "/api/v1/clients", json={"branch_id": agency.branch_id, "name": "n" * (MAX_SHORT_TEXT_CHARS + 1)}
        )
        _refused(name, "200 characters")


async def test_more_tasks_than_a_visit_may_hold_are_refused(running: RunningServer) -> None:
    agency = await seed_agency(running.node, carers=1)
    tasks = [{"title": f"task {n}"} for n in range(MAX_TASKS_PER_VISIT + 1)]
    async with running.http(agency.admin_token) as http:
        _refused(await http.post("/api/v1/visits", json=_visit_body(agency, tasks=tasks)), "tasks")
        full = await http.post("/api/v1/visits", json=_visit_body(agency, tasks=tasks[:-1]))
        assert full.status_code == 201, full.text
        visit_id = full.json()["id"]
        _refused(await http.post(f"/api/v1/visits/{visit_id}/tasks", json={"title": "one more"}), "tasks")


async def test_a_change_too_large_for_a_frame_is_refused_before_it_is_stored(running: RunningServer) -> None:
    """Every field within its limit, yet the frame would not fit: multi-byte text."""
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    head = await _head(running.node, carer.id)
    wide = "\U0001f600"  # 4 bytes of UTF-8 each
    tasks = [{"title": wide * MAX_SHORT_TEXT_CHARS} for _ in range(MAX_TASKS_PER_VISIT)]
    async with running.http(agency.admin_token) as http:
        response = await http.post(
            "/api/v1/visits", json=_visit_body(agency, tasks=tasks, notes=wide * MAX_LONG_TEXT_CHARS)
        )
    _refused(response, "bytes")
    assert str(MAX_CHANGE_FRAME_BYTES) in response.json()["error"]["message"]
    assert await _head(running.node, carer.id) == head
    async with running.node.db.read() as conn:
        frames = [r.frame for r in await conn.execute(select(feed_entries.c.frame))]
    for frame in frames:
        assert len(frame.encode()) <= MAX_CHANGE_FRAME_BYTES
        decode_server_frame(frame)


async def _poison(node: Node, agency: SeededAgency) -> None:
    """Write what older versions let through: over-long notes and address, in the store
    and in the carer's newest feed entry."""
    carer = agency.carers[0]
    visit_id = carer.visit_ids[0]
    long_notes = "n" * (MAX_LONG_TEXT_CHARS * 2)
    async with node.db.write() as conn:
        await conn.execute(update(visits).where(visits.c.id == visit_id).values(notes=long_notes))
        client_id = (await conn.execute(select(visits.c.client_id).where(visits.c.id == visit_id))).scalar_one()
        if node.db.dialect == "sqlite":  # PostgreSQL's varchar(200) would refuse it anyway
            await conn.execute(update(clients).where(clients.c.id == client_id).values(address="a" * 300))
        row = (
            await conn.execute(
                select(feed_entries.c.epoch, feed_entries.c.seq, feed_entries.c.frame)
                .where(feed_entries.c.carer_id == carer.id, feed_entries.c.visit_id == visit_id)
                .order_by(feed_entries.c.seq.desc())
                .limit(1)
            )
        ).one()
        frame = json.loads(row.frame)
        frame["payload"]["visit"]["notes"] = long_notes
        await conn.execute(
            update(feed_entries)
            .where(feed_entries.c.carer_id == carer.id, feed_entries.c.seq == row.seq)
            .values(frame=json.dumps(frame))
        )


async def test_a_device_meeting_an_undecodable_stored_change_recovers(running: RunningServer, tmp_path: Path) -> None:
    agency = await seed_agency(running.node, carers=1)
    carer = agency.carers[0]
    await _poison(running.node, agency)

    # Over HTTP: a sync answers 200 with changes a device can decode.
    async with running.http(carer.device_token) as http:
        response = await http.post(
            "/api/v1/device/sync", content=json.dumps({"type": "sync_request", "request_id": "h1"})
        )
    assert response.status_code == 200, response.text
    answer = decode_server_frame(response.content)
    assert isinstance(answer, SyncResponse) and answer.changes
    assert SyncRequest  # the same body over the socket is exercised by the SDK below

    # Over the socket (replay on connect) and by clean sync, the SDK converges.
    device = await make_device(running, carer, tmp_path)
    try:
        await eventually(lambda: device_matches_server(device, running.node, agency.admin, carer.id))
        await device.clean_sync(force=True)
        assert await device_matches_server(device, running.node, agency.admin, carer.id)
        (view,) = [v for v in device.visits(carer.id) if v.id == carer.visit_ids[0]]
        assert len(view.notes) == MAX_LONG_TEXT_CHARS
    finally:
        await device.stop()
