"""What the rota page asks about before it makes a change: a visit starting in the past,
or overlapping another visit of one of its carers. The coordinator may go ahead."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from server.node import Node
from server.services.identity import Staff

_LOOK_BACK = timedelta(hours=24)  # visits are shorter than a day: an overlap starts within it


async def warnings_for(
    node: Node,
    staff: Staff,
    *,
    starts: datetime,
    ends: datetime,
    carer_ids: list[str],
    names: dict[str, str],
    zone: ZoneInfo,
    visit_id: str | None = None,
) -> list[str]:
    said = []
    now = datetime.fromtimestamp(node.clock.now_ms() / 1000, tz=zone)
    if starts < now:
        said.append(f"This visit would start in the past ({starts.astimezone(zone):%a %d %b %H:%M}).")
    for carer_id in carer_ids:
        for other in await node.rota.carer_visits(staff, carer_id, starts - _LOOK_BACK, ends):
            if other.id == visit_id or other.status == "cancelled":
                continue
            if other.starts_at < ends and other.ends_at > starts:
                said.append(
                    f"{names.get(carer_id, 'A carer')} has another visit then: {other.client.name}, "
                    f"{other.starts_at.astimezone(zone):%a %d %b %H:%M} to {other.ends_at.astimezone(zone):%H:%M}."
                )
    return said
