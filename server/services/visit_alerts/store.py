"""What a late- or missed-visit alert (``diagnosis`` ``no_check_in``) says, and its rows
(:mod:`server.services.alert_rows`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.console import AlertDevice, AlertView, AlertVisit
from server.clock import to_datetime
from server.services import alert_rows, feeds
from server.services.alert_rows import AlertKind, row_of
from server.services.seen_history import LatestSeen
from server.services.visit_alerts.candidates import LateVisit
from server.store.schema import visit_alert_audit, visit_alerts

KIND = AlertKind(visit_alerts, visit_alert_audit, ("visit_id",))

with_closer = KIND.with_closer()
"""``query`` over visit_alerts, joined with the name of the user who closed each."""


def build_view(
    late: LateVisit,
    alert_id: str,
    found: dict[str, list[AlertDevice]],
    delivered: dict[tuple[str, str], str],
    latest: dict[tuple[str, str], LatestSeen],
    now_ms: int,
) -> AlertView:
    """The alert: the visit, every carer's phones, and per carer whether their phone holds
    the visit's latest change and whether they saw it."""
    first_id, _first_name = late.carers[0]
    minutes = (late.starts_at - now_ms) // 60_000
    said = []
    for carer_id, name in late.carers:
        change = latest.get((late.visit_id, carer_id))
        holds = delivered.get((late.visit_id, carer_id), "queued")
        phone = {"delivered": "holds the visit", "no phone": "is not registered"}.get(holds, "does not hold it yet")
        if change is None:
            seen = f"{name} has no change of it"
        elif change.seen_at is None:
            seen = f"{name} has not seen its latest change"
        else:
            seen = f"{name} saw its latest change"
        said.append(f"{name}'s phone {phone}; {seen}.")
    names = ", ".join(name for _id, name in late.carers)
    ended = late.ends_at <= now_ms
    what = "missed" if ended else "late"
    first_change = latest.get((late.visit_id, first_id))
    return AlertView(
        id=alert_id,
        carer_id=first_id,
        carer_name=names,
        branch_id=late.branch_id,
        status="open",
        severity="high",
        diagnosis="no_check_in",
        raised_at=to_datetime(now_ms),
        updated_at=to_datetime(now_ms),
        closed_at=None,
        closed_by=None,
        first_unacked_seq=first_change.seq if first_change else 0,
        head_seq=first_change.seq if first_change else 0,
        earliest_start=to_datetime(late.starts_at),
        minutes_until_start=int(minutes),
        devices=[d for carer_id, _name in late.carers for d in found.get(carer_id, [])],
        visits=[
            AlertVisit(
                visit_id=late.visit_id,
                client_name=late.client_name,
                starts_at=to_datetime(late.starts_at),
                ends_at=to_datetime(late.ends_at),
                status="scheduled",
                change=f"no check-in ({what})",
                seq=first_change.seq if first_change else 0,
            )
        ],
        action=f"No check-in at {late.client_name}'s visit: phone {names} now. " + " ".join(said),
    )


async def raise_alerts(
    conn: AsyncConnection, raised: list[tuple[LateVisit, AlertView]], now_ms: int
) -> list[feeds.Appended]:
    rows = [(row_of(late.tenant_id, view, now_ms, visit_id=late.visit_id), view) for late, view in raised]
    return await alert_rows.raise_alerts(conn, KIND, rows, now_ms)


async def close_alert(
    conn: AsyncConnection, alert_id: str, status: str, actor_id: str | None, now_ms: int
) -> feeds.Appended | None:
    return await alert_rows.close_alert(conn, KIND, alert_id, status, actor_id, now_ms)
