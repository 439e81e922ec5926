"""The carer's acknowledgement end to end (docs/protocol.md 4b, 10): real SDK devices, real
sockets, the HTTP fallback and a console feed, on a node whose clock the test moves.

A reassignment inside the window reaches both carers' phones, nobody reads it, and after
the grace each gets a "delivered but not seen" alert; the carer acknowledging on the phone
resolves theirs live on the console. An acknowledgement sent twice, or over HTTP, is
recorded once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from protocol.codec import encode
from protocol.console import AlertDismissed, AlertRaised, AlertResolved
from protocol.frames import Seen, SeenRecorded
from server.clock import ManualClock, to_datetime
from server.seeding import SeededAgency, seed_agency
from server.services.rota import NewTask
from server.store.schema import carer_seen, tenants
from tests.conftest import RunningServer
from tests.support import RawConsole, eventually, make_device

GRACE_S = 60


@dataclass
class Office:
    agency: SeededAgency
    clock: ManualClock
    running: RunningServer

    async def new_visit(self, carer_id: str, minutes_from_now: int) -> str:
        start = to_datetime(self.clock.now_ms()) + timedelta(minutes=minutes_from_now)
        view = await self.running.node.rota.create_visit(
            self.agency.admin, client_id=self.agency.client_ids[0], starts_at=start,
            ends_at=start + timedelta(minutes=45), carer_ids=[carer_id], tasks_=[NewTask("Medication")],
        )  # fmt: skip
        return view.id

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.running.node.presence.step()

    async def detect(self) -> None:
        await self.running.node.activity.flush()
        await self.running.node.seen_alerts.run_once()

    async def recorded(self) -> list[tuple[str, int, int, str]]:
        async with self.running.node.db.read() as conn:
            rows = await conn.execute(select(carer_seen).order_by(carer_seen.c.carer_id, carer_seen.c.seq))
            return [(r.carer_id, r.epoch, r.seq, r.device_id) for r in rows]


@pytest.fixture
async def office(clocked: RunningServer) -> Office:
    clock = clocked.node.clock
    assert isinstance(clock, ManualClock)
    agency = await seed_agency(clocked.node, carers=2, visits_per_carer=0, day=to_datetime(clock.now_ms()))
    async with clocked.node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_grace_s=GRACE_S, seen_lead_s=7200))
    return Office(agency, clock, clocked)


async def test_a_reassignment_delivered_not_seen_is_alerted_and_seeing_it_resolves_live(
    office: Office, tmp_path: Path
) -> None:
    amara, ben = office.agency.carers
    phones = [await make_device(office.running, c, tmp_path) for c in (amara, ben)]
    console = await RawConsole.connect(office.running)
    await console.hello(office.agency.admin_token)
    try:
        visit_id = await office.new_visit(amara.id, minutes_from_now=40)
        await eventually(lambda: phones[0].store.visit(amara.id, visit_id) is not None)
        await phones[0].acknowledge()  # Amara saw her new visit
        async with office.running.http(office.agency.admin_token) as http:
            moved = await http.post(f"/api/v1/visits/{visit_id}/reassign", json={"carer_ids": [ben.id]})
            assert moved.status_code == 200, moved.text
        await eventually(lambda: phones[1].store.visit(ben.id, visit_id) is not None)
        await eventually(lambda: phones[0].store.visit(amara.id, visit_id) is None)
        assert [a.visit_id for a in phones[0].awaiting_seen()] == [visit_id], "the removal awaits Amara"
        assert [a.visit_id for a in phones[1].awaiting_seen()] == [visit_id], "the new visit awaits Ben"

        await office.later(GRACE_S - 5)
        await office.detect()
        assert not [e for e in await console.events_for(0.3) if isinstance(e.event, AlertRaised)], "within grace"
        await office.later(10)
        await office.detect()
        raised = {}
        for _ in range(2):
            event = (await console.next_event((AlertRaised,))).event
            assert isinstance(event, AlertRaised)
            raised[event.alert.carer_id] = event.alert
        assert set(raised) == {amara.id, ben.id}
        alert = raised[ben.id]
        assert (alert.diagnosis, alert.severity, alert.status) == ("not_seen", "high", "open")
        assert [(v.visit_id, v.change) for v in alert.visits] == [(visit_id, alert.visits[0].change)]
        assert [d.device_id for d in alert.devices] == [ben.device_id]

        assert await phones[1].acknowledge() == 1  # Ben opens the app: resolved at once, live
        resolved = (await console.next_event((AlertResolved,))).event
        assert isinstance(resolved, AlertResolved)
        assert (resolved.alert.id, resolved.alert.status) == (alert.id, "resolved")

        async with office.running.http(office.agency.admin_token) as http:
            history = (await http.get(f"/api/v1/visits/{visit_id}/seen")).json()["changes"]
            mine = [c for c in history if c["carer_id"] == ben.id]
            assert [(c["needs_seen"], c["delivered"], c["seen"]["device_id"]) for c in mine] == [
                (True, True, ben.device_id)
            ]
            closed = await http.post(f"/api/v1/alerts/{raised[amara.id].id}/dismiss")
            assert closed.status_code == 200, closed.text
            assert (closed.json()["status"], closed.json()["closed_by"]) == ("dismissed", office.agency.admin.user_id)
        dismissed = (await console.next_event((AlertDismissed,))).event
        assert isinstance(dismissed, AlertDismissed) and dismissed.alert.diagnosis == "not_seen"
    finally:
        for phone in phones:
            await phone.stop()
        await console.close()


async def test_seen_twice_on_the_socket_and_over_http_is_recorded_once(office: Office, tmp_path: Path) -> None:
    carer = office.agency.carers[0]
    phone = await make_device(office.running, carer, tmp_path)
    try:
        visit_id = await office.new_visit(carer.id, minutes_from_now=30)
        await eventually(lambda: phone.store.visit(carer.id, visit_id) is not None)
        seq = phone.positions()[carer.id].seq
        seen_at = to_datetime(office.clock.now_ms())
        frame = Seen(request_id=str(uuid.uuid4()), feed=carer.id, epoch=1, seqs=[seq], seen_at=seen_at)
        for attempt in range(2):
            answer = await phone.link.request(_seen_frame(frame, f"s{attempt}"))
            assert isinstance(answer, SeenRecorded) and answer.seqs == [seq]
        async with office.running.http(carer.device_token) as http:
            for _ in range(2):
                posted = await http.post("/api/v1/device/seen", content=encode(frame))
                assert posted.status_code == 204, posted.text
            ahead = await http.post("/api/v1/device/seen", content=encode(_seen_frame(frame, "s9", seq + 5)))
            assert (ahead.status_code, ahead.json()["error"]["code"]) == (422, "position_ahead")
        assert await office.recorded() == [(carer.id, 1, seq, carer.device_id)]
    finally:
        await phone.stop()


def _seen_frame(frame: Seen, request_id: str, seq: int | None = None) -> Seen:
    return Seen(
        request_id=request_id,
        feed=frame.feed,
        epoch=frame.epoch,
        seqs=frame.seqs if seq is None else [seq],
        seen_at=frame.seen_at,
    )
