"""What the console shows beside each visit (rota, carer page): its status from what the
carers recorded, whether each carer's phone has its latest change (and since when), and
whether each carer whose phone has it saw it, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from protocol.frames import VisitView
from server.clock import Clock, to_datetime, to_ms
from server.services.delivery_times import delivered_at
from server.services.identity import Staff
from server.services.seen_history import latest_seen
from server.services.visit_delivery import delivery
from server.services.visit_status import Recorded, VisitState, recorded_for, state_of
from server.store.database import Database
from server.store.schema import tenants


@dataclass(frozen=True)
class VisitFacts:
    states: dict[str, VisitState]
    delivered: dict[tuple[str, str], str]
    """(visit, carer) -> delivered, queued or no phone."""
    seen_by: dict[str, list[tuple[str, datetime | None]]]
    """visit -> (carer, when they saw its latest change, None: not yet) per carer whose phone has it."""
    delivered_at: dict[tuple[str, str], datetime]
    """(visit, carer) -> when the carer's phone got the visit's latest change, where known
    (:mod:`server.services.delivery_times`)."""

    def all_delivered_at(self, visit: VisitView) -> datetime | None:
        """When the last of the visit's carers' phones got its latest change; None unless
        every carer's phone has it with a known time."""
        times = [self.delivered_at.get((visit.id, c)) for c in visit.carer_ids]
        if not times or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)


async def visit_facts(db: Database, clock: Clock, staff: Staff, visits: list[VisitView]) -> VisitFacts:
    pairs = [(v.id, c) for v in visits for c in v.carer_ids]
    async with db.read() as conn:
        delivered = await delivery(conn, pairs)
        seen = await latest_seen(conn, pairs)
        recorded = await recorded_for(conn, [v.id for v in visits])
        held = [  # (visit, carer) and its latest change, for the phones that have it
            (pair, (pair[1], latest.epoch, latest.seq))
            for pair, latest in seen.items()
            if delivered.get(pair) == "delivered"
        ]
        times = await delivered_at(conn, [change for _pair, change in held])
        grace_s = (await conn.execute(select(tenants.c.late_grace_s).where(tenants.c.id == staff.tenant_id))).scalar()
    now = clock.now_ms()
    states = {
        v.id: state_of(
            v.status, to_ms(v.starts_at), to_ms(v.ends_at), recorded.get(v.id, Recorded()), now, 1000 * (grace_s or 0)
        )
        for v in visits
    }
    seen_by: dict[str, list[tuple[str, datetime | None]]] = {}
    for visit_id, carer_id in pairs:
        latest = seen.get((visit_id, carer_id))
        if latest is not None and delivered[(visit_id, carer_id)] == "delivered":
            at = None if latest.seen_at is None else to_datetime(latest.seen_at)
            seen_by.setdefault(visit_id, []).append((carer_id, at))
    got = {pair: to_datetime(times[change]) for pair, change in held if change in times}
    return VisitFacts(states, delivered, seen_by, got)
