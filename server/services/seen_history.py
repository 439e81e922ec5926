"""A visit's changes as its carers' phones and the carers themselves received them:
per change, whether it needed the carer's acknowledgement, reached a phone (and when), and
was seen (by whom, on which device, when). ``GET /api/v1/visits/{visit_id}/seen``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import acked_in, covers
from protocol.seen_policy import within_window
from server.clock import to_datetime
from server.services.delivery_times import delivered_at
from server.services.identity import Staff
from server.services.visit_views import load_visit_row
from server.store.schema import carer_seen, device_acks, devices, feed_entries, tenants, users
from server.store.schema import feeds as feed_table

MAX_CHANGES = 200
"""The most recent changes a history lists."""

CHUNK = 500
"""Visits, or carers, per statement of :func:`latest_seen`."""


class SeenBy(msgspec.Struct, kw_only=True, frozen=True):
    device_id: str
    device_name: str
    seen_at: datetime
    """The device's clock when the carer saw the change."""
    recorded_at: datetime
    """When the server recorded it."""


class ChangeSeen(msgspec.Struct, kw_only=True, frozen=True):
    carer_id: str
    carer_name: str
    epoch: int
    seq: int
    committed_at: datetime
    change: str
    """What the office changed ("" once retention removed the change)."""
    needs_seen: bool
    """The carer has to acknowledge it: the tenant's policy (``seen_window_h``) or the
    coordinator's mark (``marked``) asks for it."""
    marked: bool = False
    """A coordinator marked it (its notes) as needing acknowledgement whatever the window."""
    delivered: bool
    """A phone of the carer acknowledged it (an ``ack`` covers it)."""
    seen: SeenBy | None
    delivered_at: datetime | None = None
    """When it reached a phone: the first ack covering it (:mod:`server.services.delivery_times`);
    None while not delivered, or when it was acknowledged before delivery times were kept."""


class SeenHistory(msgspec.Struct, kw_only=True, frozen=True):
    visit_id: str
    changes: list[ChangeSeen]
    """Newest first."""


async def visit_seen_history(conn: AsyncConnection, staff: Staff, visit_id: str) -> SeenHistory:
    visit = await load_visit_row(conn, staff.tenant_id, visit_id)
    staff.require_branch(visit.branch_id)
    window_h = (await conn.execute(select(tenants.c.seen_window_h).where(tenants.c.id == staff.tenant_id))).scalar()
    entries = (
        await conn.execute(
            select(
                feed_entries.c.carer_id,
                feed_entries.c.epoch,
                feed_entries.c.seq,
                feed_entries.c.committed_at,
                feed_entries.c.summary,
                feed_entries.c.needs_seen,
            )
            .join(
                feed_table,
                and_(feed_table.c.carer_id == feed_entries.c.carer_id, feed_table.c.epoch == feed_entries.c.epoch),
            )
            .where(feed_entries.c.visit_id == visit_id)
            .order_by(feed_entries.c.committed_at.desc(), feed_entries.c.seq.desc())
            .limit(MAX_CHANGES)
        )
    ).all()
    records = {
        (r.carer_id, r.epoch, r.seq): r
        for r in await conn.execute(
            select(carer_seen, devices.c.name.label("device_name"))
            .join(devices, devices.c.id == carer_seen.c.device_id)
            .where(carer_seen.c.visit_id == visit_id)
        )
    }
    carers = {e.carer_id for e in entries} | {key[0] for key in records}
    names = {r.id: r.name for r in await conn.execute(select(users.c.id, users.c.name).where(users.c.id.in_(carers)))}
    acked = await acked_positions(conn, list(carers))
    times = await delivered_at(conn, [(e.carer_id, e.epoch, e.seq) for e in entries])
    changes: list[tuple[int, ChangeSeen]] = []
    listed = set()
    for e in entries:
        key = (e.carer_id, e.epoch, e.seq)
        listed.add(key)
        acked_epoch, acked_seq = acked.get(e.carer_id, (None, None))
        delivered = covers(acked_in(e.epoch, acked_epoch, acked_seq), e.seq)
        marked = bool(e.needs_seen)
        needs = marked or within_window(e.committed_at, visit.starts_at, visit.ends_at, int(window_h or 0))
        change = _change(e.carer_id, names, e.epoch, e.seq, e.committed_at, e.summary, needs, delivered, records)
        at = times.get(key)
        if change.delivered and at is not None:
            change = msgspec.structs.replace(change, delivered_at=to_datetime(at))
        if marked:
            change = msgspec.structs.replace(change, marked=True)
        changes.append((e.committed_at, change))
    for key, r in records.items():  # changes of an earlier epoch, or removed by retention
        if key not in listed:
            change = _change(r.carer_id, names, r.epoch, r.seq, r.committed_at, "", False, True, records)
            changes.append((r.committed_at, change))
    changes.sort(key=lambda pair: (pair[0], pair[1].seq), reverse=True)
    return SeenHistory(visit_id=visit_id, changes=[c for _at, c in changes[:MAX_CHANGES]])


async def acked_positions(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, tuple[int, int]]:
    """carer -> (epoch, seq): the furthest any active device of theirs acknowledged."""
    if not carer_ids:
        return {}
    rows = await conn.execute(
        select(device_acks.c.carer_id, device_acks.c.epoch, func.max(device_acks.c.seq).label("seq"))
        .join(devices, devices.c.id == device_acks.c.device_id)
        .join(
            feed_table, and_(feed_table.c.carer_id == device_acks.c.carer_id, feed_table.c.epoch == device_acks.c.epoch)
        )
        .where(device_acks.c.carer_id.in_(carer_ids), devices.c.active.is_(True), devices.c.deleted_at.is_(None))
        .group_by(device_acks.c.carer_id, device_acks.c.epoch)
    )
    return {r.carer_id: (r.epoch, r.seq) for r in rows}


def _change(
    carer_id: str,
    names: dict[str, str],
    epoch: int,
    seq: int,
    committed_at: int,
    summary: str,
    needs: bool,
    delivered: bool,
    records: dict[tuple[str, int, int], Row[Any]],
) -> ChangeSeen:
    record = records.get((carer_id, epoch, seq))
    seen = None
    if record is not None:
        seen = SeenBy(
            device_id=record.device_id,
            device_name=record.device_name,
            seen_at=to_datetime(record.seen_at),
            recorded_at=to_datetime(record.recorded_at),
        )
    return ChangeSeen(
        carer_id=carer_id,
        carer_name=names.get(carer_id, ""),
        epoch=epoch,
        seq=seq,
        committed_at=to_datetime(committed_at),
        change=summary,
        needs_seen=needs,
        delivered=delivered or seen is not None,
        seen=seen,
    )


async def latest_seen(conn: AsyncConnection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], LatestSeen]:
    """(visit id, carer id) -> the carer's latest change of the visit (current epoch) and
    when they saw it; a pair with no such change is absent. A few statements per chunk."""
    visit_ids = sorted({v for v, _ in pairs})
    wanted = set(pairs)
    latest: dict[tuple[str, str], tuple[int, int]] = {}
    for start in range(0, len(visit_ids), CHUNK):
        rows = await conn.execute(
            select(feed_entries.c.visit_id, feed_entries.c.carer_id, feed_entries.c.epoch, func.max(feed_entries.c.seq))
            .join(
                feed_table,
                and_(feed_table.c.carer_id == feed_entries.c.carer_id, feed_table.c.epoch == feed_entries.c.epoch),
            )
            .where(feed_entries.c.visit_id.in_(visit_ids[start : start + CHUNK]))
            .group_by(feed_entries.c.visit_id, feed_entries.c.carer_id, feed_entries.c.epoch)
        )
        latest.update({(r[0], r[1]): (r[2], r[3]) for r in rows if (r[0], r[1]) in wanted})
    carers = sorted({c for _v, c in latest})
    seen_at: dict[tuple[str, int, int], int] = {}
    for start in range(0, len(carers), CHUNK):
        rows = await conn.execute(
            select(carer_seen.c.carer_id, carer_seen.c.epoch, carer_seen.c.seq, carer_seen.c.seen_at).where(
                carer_seen.c.carer_id.in_(carers[start : start + CHUNK]),
                carer_seen.c.visit_id.in_(visit_ids),
            )
        )
        seen_at.update({(r.carer_id, r.epoch, r.seq): r.seen_at for r in rows})
    return {
        (visit, carer): LatestSeen(epoch, seq, seen_at.get((carer, epoch, seq)))
        for (visit, carer), (epoch, seq) in latest.items()
    }


@dataclass(frozen=True)
class LatestSeen:
    """A carer's latest change of a visit, and when they saw it (None: not yet)."""

    epoch: int
    seq: int
    seen_at: int | None
