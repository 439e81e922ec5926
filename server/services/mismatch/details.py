"""Building what an alert says: the carer's devices, the affected visits, the urgency."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import acked_in, level, same_epoch
from protocol.console import AlertDevice, AlertVisit, DeviceState, Diagnosis, Severity
from protocol.heads import not_older
from server.clock import to_datetime
from server.cluster.presence import live_node
from server.services.mismatch.acks_view import among
from server.store.schema import (
    clients,
    device_acks,
    device_connections,
    device_users,
    devices,
    feed_entries,
    nodes,
    visits,
)
from server.tunables import HIGH_SEVERITY_WITHIN_MS

CHUNK = 1000
"""Carers per query when alert details are built for many at once (a bound parameter each:
far under SQLite's 32,766 and cheap for PostgreSQL, so a thousand alerts read in one go)."""


async def devices_of(conn: AsyncConnection, carer_id: str, epoch: int, head_seq: int, now_ms: int) -> list[AlertDevice]:
    return (await devices_of_many(conn, {carer_id: (epoch, head_seq)}, now_ms))[carer_id]


async def devices_of_many(
    conn: AsyncConnection, feeds_at: dict[str, tuple[int, int]], now_ms: int
) -> dict[str, list[AlertDevice]]:
    """carer id -> their active devices and how far each acked, for carer -> (epoch, head).

    One statement per chunk of carers (devices with their acks and whether a live node
    holds their socket), so a pass raising a thousand alerts does not pay round trips per
    alert.
    """
    found: dict[str, list[AlertDevice]] = {carer: [] for carer in feeds_at}
    carers = list(feeds_at)
    for start in range(0, len(carers), CHUNK):
        chunk = carers[start : start + CHUNK]
        rows = (
            await conn.execute(
                select(
                    device_users.c.user_id,
                    devices.c.id,
                    devices.c.name,
                    devices.c.uuid,
                    devices.c.last_api_call_at,
                    devices.c.last_sync_at,
                    device_acks.c.epoch,
                    device_acks.c.seq,
                    nodes.c.id.label("live_node"),
                )
                .join(device_users, device_users.c.device_id == devices.c.id)
                .outerjoin(
                    device_acks,
                    and_(device_acks.c.device_id == devices.c.id, device_acks.c.carer_id == device_users.c.user_id),
                )
                .outerjoin(device_connections, device_connections.c.device_id == devices.c.id)
                .outerjoin(nodes, and_(nodes.c.id == device_connections.c.node_id, live_node(now_ms)))
                .where(among(conn, device_users.c.user_id, chunk), devices.c.active.is_(True))
                .order_by(device_users.c.user_id, devices.c.name, devices.c.id)
            )
        ).all()
        for r in rows:
            epoch, head_seq = feeds_at[r.user_id]
            acked = acked_in(epoch, r.epoch, r.seq)
            connected = r.live_node is not None
            state: DeviceState = (
                "up_to_date" if level(acked, head_seq) else "not_acknowledging" if connected else "offline"
            )
            last_seen = now_ms if connected else r.last_api_call_at
            found[r.user_id].append(
                AlertDevice(
                    device_id=r.id,
                    name=r.name,
                    uuid=r.uuid,
                    connected=connected,
                    last_seen_at=None if last_seen is None else to_datetime(last_seen),
                    last_sync_at=None if r.last_sync_at is None else to_datetime(r.last_sync_at),
                    acked_seq=acked,
                    head_seq=head_seq,
                    state=state,
                )
            )
    return found


def diagnose(found: list[AlertDevice]) -> Diagnosis:
    """An app fault (connected, not acknowledging) is told apart from a phone that is away."""
    if not found:
        return "no_device"
    if any(d.state == "not_acknowledging" for d in found):
        return "not_acknowledging"
    return "offline"


async def affected_visits(conn: AsyncConnection, carer_id: str, epoch: int, first_seq: int) -> list[AlertVisit]:
    return (await affected_visits_many(conn, {carer_id: (epoch, first_seq)}))[carer_id]


async def affected_visits_many(
    conn: AsyncConnection, ranges: dict[str, tuple[int, int]]
) -> dict[str, list[AlertVisit]]:
    """carer id -> visits changed by their unacknowledged entries (the latest change per
    visit), for carer -> (epoch, first unacked seq); one statement per chunk of carers.

    Carers are chunked in order of their first unacked seq and each chunk reads from its
    lowest, so a chunk reads few entries it then drops (a plain IN list compiles once; an
    OR of one range per carer cost more to build than to run).
    """
    latest: dict[str, dict[str, AlertVisit]] = {carer: {} for carer in ranges}
    carers = sorted(ranges, key=lambda carer: ranges[carer][1])  # similar first seqs share a chunk
    for start in range(0, len(carers), CHUNK):
        chunk = carers[start : start + CHUNK]
        rows = await conn.execute(
            select(
                feed_entries.c.carer_id,
                feed_entries.c.epoch,
                feed_entries.c.seq,
                feed_entries.c.visit_id,
                feed_entries.c.summary,
                visits.c.starts_at,
                visits.c.ends_at,
                visits.c.status,
                clients.c.name,
            )
            .join(visits, visits.c.id == feed_entries.c.visit_id)
            .join(clients, clients.c.id == visits.c.client_id)
            .where(
                among(conn, feed_entries.c.carer_id, chunk),
                feed_entries.c.epoch.in_({ranges[carer][0] for carer in chunk}),
                feed_entries.c.seq >= ranges[chunk[0]][1],
            )
            .order_by(feed_entries.c.carer_id, feed_entries.c.seq)
        )
        for r in rows:
            epoch, first_seq = ranges[r.carer_id]
            if not same_epoch(r.epoch, epoch) or not not_older(r.epoch, r.seq, epoch, first_seq):
                continue
            latest[r.carer_id][r.visit_id] = AlertVisit(
                visit_id=r.visit_id,
                client_name=r.name,
                starts_at=to_datetime(r.starts_at),
                ends_at=to_datetime(r.ends_at),
                status=r.status,
                change=r.summary or "changed",
                seq=r.seq,
            )
    return {carer: sorted(found.values(), key=lambda v: (v.starts_at, v.visit_id)) for carer, found in latest.items()}


def urgency(affected: list[AlertVisit], now_ms: int) -> tuple[Severity, int | None, int | None]:
    """(severity, earliest start in ms, minutes until it) over visits not yet over.

    A visit under way counts (negative minutes, high severity): the carer may be there
    with the old plan. Visits already over do not make an alert urgent.
    """
    upcoming = [int(v.starts_at.timestamp() * 1000) for v in affected if v.ends_at.timestamp() * 1000 > now_ms]
    if not upcoming:
        return "normal", None, None
    earliest = min(upcoming)
    minutes = (earliest - now_ms) // 60_000
    severity: Severity = "high" if earliest - now_ms <= HIGH_SEVERITY_WITHIN_MS else "normal"
    return severity, earliest, int(minutes)


def advice(carer_name: str, diagnosis: Diagnosis) -> str:
    if diagnosis == "no_device":
        return f"{carer_name} has no active device: assign one, or phone {carer_name} with the change."
    base = f"Ask {carer_name} to run a manual sync with the app open and the screen on."
    if diagnosis == "not_acknowledging":
        return base + " The phone is connected but not confirming changes: if that fails, restart the app."
    return base
