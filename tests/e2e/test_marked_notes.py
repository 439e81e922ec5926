"""Notes a coordinator marks as needing acknowledgement, end to end: PATCH them over REST
with ``needs_seen``, the phone (tenant window off) holds the change as awaiting the carer,
a "delivered but not seen" alert follows the grace, the carer's acknowledgement resolves it
live, and the visit's history shows the change as marked and seen."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from protocol.console import AlertRaised, AlertResolved
from server.store.schema import tenants
from tests.e2e.test_carer_seen import GRACE_S, Office, office
from tests.support import RawConsole, eventually, make_device

__all__ = ["office"]


async def test_a_marked_note_awaits_the_carer_is_alerted_and_resolved_by_seen(office: Office, tmp_path: Path) -> None:
    async with office.running.node.db.write() as conn:
        await conn.execute(update(tenants).values(seen_window_h=0))
    amara = office.agency.carers[0]
    phone = await make_device(office.running, amara, tmp_path)
    console = await RawConsole.connect(office.running)
    await console.hello(office.agency.admin_token)
    try:
        visit_id = await office.new_visit(amara.id, minutes_from_now=40)
        await eventually(lambda: phone.store.visit(amara.id, visit_id) is not None)
        assert phone.awaiting_seen() == [], "the window is off"
        async with office.running.http(office.agency.admin_token) as http:
            plain = await http.patch(f"/api/v1/visits/{visit_id}", json={"notes": "Side door"})
            assert plain.status_code == 200, plain.text
            marked = await http.patch(
                f"/api/v1/visits/{visit_id}", json={"notes": "Side door: key safe moved", "needs_seen": True}
            )
            assert marked.status_code == 200, marked.text
            refused = await http.patch(f"/api/v1/visits/{visit_id}", json={"notes": "x", "needs_seen": "yes"})
            assert refused.status_code == 422, refused.text
        await eventually(lambda: len(phone.awaiting_seen()) == 1)
        marked_seq = phone.positions()[amara.id].seq
        assert [(a.visit_id, a.seq) for a in phone.awaiting_seen()] == [(visit_id, marked_seq)]
        stored = phone.store.visit(amara.id, visit_id)
        assert stored is not None and stored.notes == "Side door: key safe moved"

        await office.later(GRACE_S + 5)
        await office.detect()
        raised = (await console.next_event((AlertRaised,))).event
        assert isinstance(raised, AlertRaised)
        assert (raised.alert.diagnosis, raised.alert.first_unacked_seq) == ("not_seen", marked_seq)
        assert [v.change for v in raised.alert.visits] == ["notes changed, to acknowledge"]

        assert await phone.acknowledge() == 1
        resolved = (await console.next_event((AlertResolved,))).event
        assert isinstance(resolved, AlertResolved) and resolved.alert.id == raised.alert.id

        async with office.running.http(office.agency.admin_token) as http:
            history = (await http.get(f"/api/v1/visits/{visit_id}/seen")).json()["changes"]
        said = [(c["seq"], c["marked"], c["needs_seen"], c["seen"] is not None) for c in history]
        assert said == [(marked_seq, True, True, True), (marked_seq - 1, False, False, False), (1, False, False, False)]
    finally:
        await phone.stop()
        await console.close()
