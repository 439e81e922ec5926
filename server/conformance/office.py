"""The office side of a case: rota changes and device actions, through the node's services
(the ones the REST API calls), and what the node's store holds afterwards (the truth a
client is checked against)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from protocol.frames import VisitView
from server.clock import to_datetime
from server.conformance.node_under_test import NodeUnderTest
from server.seeding import SeededAgency
from server.services.feed_reset import FeedResetService
from server.services.rota import NewTask
from server.store.schema import care_records, carer_seen, device_acks, devices, feed_entries, feeds


@dataclass(frozen=True)
class StoredRecord:
    mutation_id: int
    kind: str
    payload: dict[str, Any]
    conflict: str | None


class Office:
    def __init__(self, nut: NodeUnderTest) -> None:
        self.nut = nut

    # ------------------------------------------------------------ actions

    async def change_visit(self, index: int = 0, minutes: int = 5) -> VisitView:
        """Move the carer's ``index``-th visit ``minutes`` later: one change in the carer's feed."""
        agency, carer = self._agency(), self.nut.carer
        rota = self.nut.node.rota
        visit = await rota.get_visit(agency.admin, carer.visit_ids[index % len(carer.visit_ids)])
        later = timedelta(minutes=minutes)
        return await rota.reschedule(agency.admin, visit.id, visit.starts_at + later, visit.ends_at + later)

    async def visit_soon(self, minutes: int = 30) -> VisitView:
        """A new visit of the carer starting in ``minutes``: a change inside any acknowledgement window."""
        agency, carer = self._agency(), self.nut.carer
        start = to_datetime(self.nut.node.clock.now_ms()) + timedelta(minutes=minutes)
        return await self.nut.node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            carer_ids=[carer.id],
            tasks_=[NewTask("Medication")],
        )

    async def marked_notes_far_ahead(self, days: int = 5) -> VisitView:
        """A new visit of the carer ``days`` ahead (beyond any acknowledgement window) whose
        notes the coordinator marked as needing acknowledgement (``visit_upsert.needs_seen``)."""
        agency, carer = self._agency(), self.nut.carer
        start = to_datetime(self.nut.node.clock.now_ms()) + timedelta(days=days)
        return await self.nut.node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            carer_ids=[carer.id],
            tasks_=[],
            notes="The key safe moved to the side door.",
            needs_seen=True,
        )

    async def changes(self, count: int) -> None:
        """``count`` changes in a row, over the carer's visits in turn."""
        for i in range(count):
            await self.change_visit(i)

    async def cancel_visit(self, index: int = 0) -> VisitView:
        agency, carer = self._agency(), self.nut.carer
        return await self.nut.node.rota.cancel(agency.admin, carer.visit_ids[index])

    async def revoke_device(self) -> None:
        await self.nut.node.devices.revoke(self._agency().tenant_id, self.nut.carer.device_id)

    async def enrolment_code(self) -> str:
        """A one-time code for the client's device, as the office issues one for a phone."""
        issued = await self.nut.node.devices.issue_enrolment_code(self._agency().tenant_id, self.nut.carer.device_id)
        return issued.code

    async def demand_resync(self) -> None:
        await self.nut.node.devices.demand_resync(self._agency().tenant_id, self.nut.carer.device_id)

    async def reset_feed(self) -> None:
        """Reset the carer's feed to a new epoch, as ``POST /api/v1/carers/{id}/feed/reset`` does."""
        node = self.nut.node
        await FeedResetService(node.db, node.bus, node.clock).reset(self._agency().admin, self.nut.carer.id)

    async def assign_carers(self, carer_ids: list[str]) -> None:
        await self.nut.node.devices.assign(self._agency().tenant_id, self.nut.carer.device_id, carer_ids, None)

    # ------------------------------------------------------------ what the store holds

    async def head(self, carer_id: str | None = None) -> tuple[int, int]:
        """The carer's feed position ``(epoch, head)``."""
        async with self.nut.node.db.read() as conn:
            row = (
                await conn.execute(
                    select(feeds.c.epoch, feeds.c.head_seq).where(feeds.c.carer_id == (carer_id or self.nut.carer.id))
                )
            ).one()
        return int(row.epoch), int(row.head_seq)

    async def expected_visits(self, carer_id: str | None = None) -> dict[str, int]:
        """``{visit id: version}`` a device holds once it applied every change of the feed's epoch."""
        carer = carer_id or self.nut.carer.id
        epoch, _head = await self.head(carer)
        query = (
            select(feed_entries.c.frame)
            .where(feed_entries.c.carer_id == carer, feed_entries.c.epoch == epoch)
            .order_by(feed_entries.c.seq)
        )
        held: dict[str, int] = {}
        async with self.nut.node.db.read() as conn:
            for (frame,) in await conn.execute(query):
                payload = json.loads(frame)["payload"]
                if payload["kind"] == "visit_upsert":
                    held[payload["visit"]["id"]] = payload["visit"]["version"]
                else:
                    held.pop(payload["visit_id"], None)
        return held

    async def recorded_ack(self, carer_id: str | None = None) -> tuple[int, int] | None:
        """The position the node recorded as acknowledged by the client's device."""
        node = self.nut.node
        await node.activity.flush()
        query = select(device_acks.c.epoch, device_acks.c.seq).where(
            device_acks.c.device_id == self.nut.carer.device_id,
            device_acks.c.carer_id == (carer_id or self.nut.carer.id),
        )
        async with node.db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (int(row.epoch), int(row.seq))

    async def recorded_seen(self) -> list[tuple[int, int, str]]:
        """``(epoch, seq, device id)`` of every change the node recorded the carer saw."""
        query = (
            select(carer_seen.c.epoch, carer_seen.c.seq, carer_seen.c.device_id)
            .where(carer_seen.c.carer_id == self.nut.carer.id)
            .order_by(carer_seen.c.epoch, carer_seen.c.seq)
        )
        async with self.nut.node.db.read() as conn:
            return [(int(r.epoch), int(r.seq), r.device_id) for r in await conn.execute(query)]

    async def stored_records(self) -> list[StoredRecord]:
        """What the client's device uploaded and the node stored as care."""
        query = (
            select(care_records.c.mutation_id, care_records.c.kind, care_records.c.payload, care_records.c.conflict)
            .where(care_records.c.device_id == self.nut.carer.device_id)
            .order_by(care_records.c.mutation_id)
        )
        async with self.nut.node.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredRecord(int(r.mutation_id), r.kind, json.loads(r.payload), r.conflict) for r in rows]

    async def resync_pending(self) -> bool:
        """Whether the office's clean-sync demand on the client's device is still open."""
        query = select(devices.c.resync_requested_at).where(devices.c.id == self.nut.carer.device_id)
        async with self.nut.node.db.read() as conn:
            return (await conn.execute(query)).scalar_one() is not None

    def _agency(self) -> SeededAgency:
        if self.nut.agency is None:
            raise RuntimeError("the agency is not seeded")
        return self.nut.agency
