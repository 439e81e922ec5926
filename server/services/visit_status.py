"""A visit's status from what its carers recorded (docs/protocol.md, "Visit status").

- ``cancelled``: the office cancelled it;
- ``completed``: a carer checked out;
- ``in_progress``: a carer checked in, nobody checked out yet;
- ``scheduled``: no check-in, and the tenant's grace after its start (``late_grace_s``)
  has not passed;
- ``late``: no check-in by its start plus the grace, and it has not ended yet;
- ``missed``: no check-in by its end.

Check-ins and check-outs count when they are stored as care (a check-in flagged for the
office, e.g. on a visit reassigned since, still counts), by their capture time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import VisitState
from server.store.schema import care_records
from server.tunables import REPORT_QUERY_CHUNK as CHUNK

__all__ = ["Recorded", "VisitState", "recorded_for", "state_of"]


@dataclass(frozen=True)
class Recorded:
    """When a visit was first checked in and first checked out (capture times, ms)."""

    checked_in_at: int | None = None
    checked_out_at: int | None = None


def state_of(status: str, starts_at: int, ends_at: int, recorded: Recorded, now_ms: int, grace_ms: int) -> VisitState:
    if status == "cancelled":
        return "cancelled"
    if recorded.checked_out_at is not None:
        return "completed"
    if recorded.checked_in_at is not None:
        return "in_progress"
    if now_ms < starts_at + grace_ms:
        return "scheduled"
    if now_ms < ends_at:
        return "late"
    return "missed"


async def recorded_for(conn: AsyncConnection, visit_ids: list[str]) -> dict[str, Recorded]:
    """visit id -> its first check-in and check-out, for these visits (absent: neither)."""
    found: dict[str, dict[str, int]] = {}
    ids = sorted(set(visit_ids))
    for start in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(care_records.c.visit_id, care_records.c.kind, func.min(care_records.c.captured_at).label("at"))
            .where(
                care_records.c.visit_id.in_(ids[start : start + CHUNK]),
                care_records.c.kind.in_(("check_in", "check_out")),
            )
            .group_by(care_records.c.visit_id, care_records.c.kind)
        )
        for r in rows:
            found.setdefault(r.visit_id, {})[r.kind] = r.at
    return {v: Recorded(kinds.get("check_in"), kinds.get("check_out")) for v, kinds in found.items()}
