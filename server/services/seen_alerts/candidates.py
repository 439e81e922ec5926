"""The one statement that finds changes due a "delivered but not seen" alert.

A change is due when, by the tenant's policy and the visit's current times:

- it is the latest change of the visit in the carer's current epoch (for a carer taken
  off the visit, the removal, even if the visit changed again since);
- it needed the carer's acknowledgement (``seen_window_h``: the visit started, or starts
  within the window, after the change's commit, and had not ended by then; or a
  coordinator marked it, ``feed_entries.needs_seen``, whatever the window);
- the visit has not ended yet;
- ``seen_grace_s`` has passed since its commit, and the visit starts within
  ``seen_lead_s`` (or is under way);
- a phone of the carer acknowledged it (delivered: otherwise it is a sync mismatch);
- the carer has not seen it, and no alert was ever raised for it, and none is open for
  the carer and the visit.

The statement reads the visits around now (index on ``visits.starts_at``), or those
something happened to since the previous pass (:mod:`.touched`), and only each one's
latest entries: an office change sets the visit's ``updated_at`` to the commit time of
the entries it writes, so they are the visit's entries committed at ``updated_at`` (index
on ``feed_entries (visit_id, committed_at)``), and for a carer taken off it since, the
removal, at its ``unassigned_at``. It never reads a whole feed, nor a visit's older
changes. (A feed reset's replay is not an office change: it is never alerted.) Whether a
phone holds the change is read afterwards, for the few changes left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, and_, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import covers
from server.store.schema import (
    carer_seen,
    clients,
    device_acks,
    devices,
    feed_entries,
    feeds,
    seen_alerts,
    tenants,
    users,
    visit_assignments,
    visits,
)

MAX_LEAD_MS = 24 * 3_600_000
"""The largest ``seen_lead_s`` a tenant may set: visits starting later are never due."""

CHUNK = 1000
"""Carers per acknowledgement read."""

MAX_VISIT_MS = 24 * 3_600_000
"""Visits that started longer ago than this are not looked at (a care visit is shorter)."""


@dataclass(frozen=True)
class Due:
    tenant_id: str
    branch_id: str
    carer_id: str
    carer_name: str
    visit_id: str
    client_name: str
    epoch: int
    seq: int
    committed_at: int
    summary: str
    starts_at: int
    ends_at: int
    status: str


async def due(conn: AsyncConnection, now_ms: int, visit_ids: list[str] | None = None) -> list[Due]:
    """Every change due an alert now (usually none: one statement finds that out); of
    these visits only, when given (at most :data:`CHUNK`: :mod:`.touched`)."""
    if visit_ids == []:
        return []
    keys = {(r.carer_id, r.epoch, r.seq) for r in await conn.execute(_unseen_latest(now_ms, visit_ids))}
    return await _delivered(conn, await _details(conn, keys))


def _unseen_latest(now_ms: int, visit_ids: list[str] | None) -> CompoundSelect[Any]:
    """(carer, epoch, seq) of each visit's latest change per carer, due by time, not seen
    and never alerted. Judged on the visit's row first, so only the entries of visits due
    now are read: every office change sets the visit's updated_at to its entries' commit
    time, and a carer taken off it keeps the removal's time in unassigned_at.

    Given visit ids (found around now by :func:`.touched.visits_touched`), the visits are
    read by id and the bounds on ``starts_at`` are left out: with them, PostgreSQL's generic
    plan (a prepared statement's sixth run on) scans every visit around now on the index of
    ``starts_at`` and checks each against the list, 10 to 20 times slower."""
    e, v, t, va = feed_entries, visits, tenants, visit_assignments
    hour = 3_600_000
    around = (
        (v.c.starts_at <= now_ms + MAX_LEAD_MS, v.c.starts_at >= now_ms - MAX_VISIT_MS)
        if visit_ids is None
        else (v.c.id.in_(visit_ids),)
    )

    def due_at(changed_at: ColumnElement[int]) -> tuple[ColumnElement[bool], ...]:
        in_window = and_(t.c.seen_window_h > 0, v.c.starts_at - changed_at <= t.c.seen_window_h * hour)
        return (
            *around,
            v.c.ends_at > now_ms,
            v.c.starts_at - t.c.seen_lead_s * 1000 <= now_ms,
            or_(e.c.needs_seen.is_(True), in_window),
            v.c.ends_at > changed_at,
            changed_at + t.c.seen_grace_s * 1000 <= now_ms,
        )

    not_seen_nor_alerted = (
        ~select(carer_seen.c.seq)
        .where(carer_seen.c.carer_id == e.c.carer_id, carer_seen.c.epoch == e.c.epoch, carer_seen.c.seq == e.c.seq)
        .exists(),
        ~select(seen_alerts.c.id)
        .where(seen_alerts.c.carer_id == e.c.carer_id, seen_alerts.c.epoch == e.c.epoch, seen_alerts.c.seq == e.c.seq)
        .exists(),
        ~select(seen_alerts.c.id)
        .where(
            seen_alerts.c.carer_id == e.c.carer_id,
            seen_alerts.c.visit_id == e.c.visit_id,
            seen_alerts.c.status == "open",
        )
        .exists(),
    )
    return union_all(
        select(e.c.carer_id, e.c.epoch, e.c.seq)
        .select_from(v)
        .join(t, t.c.id == v.c.tenant_id)
        .join(e, and_(e.c.visit_id == v.c.id, e.c.committed_at == v.c.updated_at))
        .where(*due_at(v.c.updated_at), *not_seen_nor_alerted),
        select(e.c.carer_id, e.c.epoch, e.c.seq)
        .select_from(v)
        .join(t, t.c.id == v.c.tenant_id)
        .join(va, and_(va.c.visit_id == v.c.id, va.c.unassigned_at < v.c.updated_at))
        .join(e, and_(e.c.visit_id == v.c.id, e.c.committed_at == va.c.unassigned_at, e.c.carer_id == va.c.carer_id))
        .where(*due_at(va.c.unassigned_at), *not_seen_nor_alerted),
    )


async def _details(conn: AsyncConnection, keys: set[tuple[str, int, int]]) -> list[Due]:
    """What the alerts say of these changes, those still in their carer's current epoch;
    of changes of one carer and visit committed in the same millisecond, the last."""
    if not keys:
        return []
    e, v = feed_entries, visits
    carers = sorted({carer for carer, _epoch, _seq in keys})
    found: dict[tuple[str, str], Due] = {}
    for start in range(0, len(carers), CHUNK):
        rows = await conn.execute(
            select(
                v.c.tenant_id,
                v.c.branch_id,
                e.c.carer_id,
                users.c.name.label("carer_name"),
                e.c.visit_id,
                clients.c.name.label("client_name"),
                e.c.epoch,
                e.c.seq,
                e.c.committed_at,
                e.c.summary,
                v.c.starts_at,
                v.c.ends_at,
                v.c.status,
            )
            .select_from(e)
            .join(feeds, and_(feeds.c.carer_id == e.c.carer_id, feeds.c.epoch == e.c.epoch))
            .join(v, v.c.id == e.c.visit_id)
            .join(clients, clients.c.id == v.c.client_id)
            .join(users, users.c.id == e.c.carer_id)
            .where(e.c.carer_id.in_(carers[start : start + CHUNK]), e.c.seq.in_({seq for _c, _e, seq in keys}))
            .order_by(e.c.carer_id, e.c.seq)
        )
        for r in rows:
            if (r.carer_id, r.epoch, r.seq) in keys:
                found[(r.carer_id, r.visit_id)] = Due(**r._mapping)
    return list(found.values())


async def _delivered(conn: AsyncConnection, due: list[Due]) -> list[Due]:
    """Those a phone of the carer acknowledged (read for these carers only: usually none)."""
    carers = sorted({d.carer_id for d in due})
    acked: dict[tuple[str, int], int] = {}
    for start in range(0, len(carers), CHUNK):
        rows = await conn.execute(
            select(device_acks.c.carer_id, device_acks.c.epoch, func.max(device_acks.c.seq).label("seq"))
            .join(devices, devices.c.id == device_acks.c.device_id)
            .where(device_acks.c.carer_id.in_(carers[start : start + CHUNK]), devices.c.active.is_(True))
            .group_by(device_acks.c.carer_id, device_acks.c.epoch)
        )
        acked.update({(r.carer_id, r.epoch): r.seq for r in rows})
    return [d for d in due if covers(acked.get((d.carer_id, d.epoch), 0), d.seq)]
