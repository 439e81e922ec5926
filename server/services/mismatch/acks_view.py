"""What the store says about a carer's feed versus their devices' acknowledgements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from server.services.preferences import LIMITS
from server.store.schema import (
    device_acks,
    device_interruptions,
    device_users,
    devices,
    feed_entries,
    feeds,
    tenants,
    users,
)

MAX_GRACE_MS = LIMITS["mismatch_grace_s"][1] * 1000
"""The longest grace a tenant may set."""
LEVEL_SLACK_MS = 10_000
"""A device cut off by its node counts as level if what it had not acked was committed at
most this long before the stop: acks linger in a node's memory before they are written
(``ack_flush_interval_s``), and a killed node's stop is known only to its last touch
(every ``PRESENCE_TOUCH_INTERVAL_S``)."""


@dataclass(frozen=True)
class Overdue:
    """A carer with at least one change older than the grace period that no device acked."""

    carer_id: str
    tenant_id: str
    epoch: int
    head_seq: int
    acked_seq: int
    first_unacked_at: int
    grace_ms: int


def _best_acks() -> Select[Any]:
    """Per carer feed: head and the highest seq any of the carer's active devices acked."""
    return (
        select(
            feeds.c.carer_id,
            feeds.c.tenant_id,
            feeds.c.epoch,
            feeds.c.head_seq,
            func.coalesce(func.max(device_acks.c.seq), 0).label("acked"),
        )
        .select_from(feeds)
        .outerjoin(device_users, device_users.c.user_id == feeds.c.carer_id)
        .outerjoin(devices, and_(devices.c.id == device_users.c.device_id, devices.c.active.is_(True)))
        .outerjoin(
            device_acks,
            and_(
                device_acks.c.device_id == devices.c.id,
                device_acks.c.carer_id == feeds.c.carer_id,
                device_acks.c.epoch == feeds.c.epoch,
            ),
        )
        .where(feeds.c.head_seq > 0)
        .group_by(feeds.c.carer_id, feeds.c.tenant_id, feeds.c.epoch, feeds.c.head_seq)
    )


def _cuts(now_ms: int) -> Select[Any]:
    """Per carer: the latest time the serving side cut one of their active devices off, and
    when that device could reconnect (not yet: ``now_ms``). Only cuts that can still
    decide something are read: a device back in service for longer than its tenant's
    grace is judged from commit times alone, so after a storm the rows stop costing
    anything once a grace period has passed."""
    available = func.coalesce(device_interruptions.c.available_at, literal(now_ms, BigInteger))
    grace_ms = cast(tenants.c.mismatch_grace_s, BigInteger) * literal_column("1000")
    return (
        select(
            device_users.c.user_id.label("carer_id"),
            func.max(device_interruptions.c.stopped_at).label("stopped_at"),
            func.max(available).label("available_at"),
        )
        .select_from(device_interruptions)
        .join(devices, and_(devices.c.id == device_interruptions.c.device_id, devices.c.active.is_(True)))
        .join(tenants, tenants.c.id == devices.c.tenant_id)
        .join(device_users, device_users.c.device_id == devices.c.id)
        .where(
            or_(
                device_interruptions.c.available_at.is_(None),
                device_interruptions.c.available_at > literal(now_ms - MAX_GRACE_MS, BigInteger),
            ),  # by the index: a day after a storm its rows are not even read
            available > literal(now_ms, BigInteger) - grace_ms,
        )
        .group_by(device_users.c.user_id)
    )


async def overdue_carers(conn: AsyncConnection, now_ms: int) -> list[Overdue]:
    """Every carer whose first unacknowledged change is older than the tenant's grace period.

    One aggregate over feeds, device assignments and acks, joined to the first unacked
    entry by primary key: a single statement however many carers there are.

    The grace of a change counts from its commit, or, when the serving side cut one of the
    carer's devices off while it was level (the change was committed after, or within
    ``LEVEL_SLACK_MS`` before, the stop: its ack may have died in the node's memory), from
    when that device could reconnect. So a restart or an outage never eats the grace of a
    device that comes back within it, and one that does not come back is still reported,
    a grace period after it could have.
    """
    best = _best_acks().subquery()
    cut = _cuts(now_ms).subquery()
    grace_ms = cast(tenants.c.mismatch_grace_s, BigInteger) * literal_column("1000")
    deadline = literal(now_ms, BigInteger) - grace_ms
    rows = await conn.execute(
        select(best, feed_entries.c.committed_at, grace_ms.label("grace_ms"))
        .join(
            feed_entries,
            and_(
                feed_entries.c.carer_id == best.c.carer_id,
                feed_entries.c.epoch == best.c.epoch,
                feed_entries.c.seq == best.c.acked + 1,
            ),
        )
        .join(tenants, tenants.c.id == best.c.tenant_id)
        .outerjoin(cut, cut.c.carer_id == best.c.carer_id)
        .where(
            best.c.head_seq > best.c.acked,
            feed_entries.c.committed_at <= deadline,
            or_(
                cut.c.stopped_at.is_(None),
                feed_entries.c.committed_at <= cut.c.stopped_at - literal(LEVEL_SLACK_MS, BigInteger),
                cut.c.available_at <= deadline,
            ),
        )
    )
    return [
        Overdue(r.carer_id, r.tenant_id, r.epoch, r.head_seq, r.acked, r.committed_at, int(r.grace_ms)) for r in rows
    ]


async def acked_positions(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """carer id -> (epoch, head, best acked seq) for the given carers."""
    best = _best_acks().where(among(conn, feeds.c.carer_id, carer_ids)).subquery()
    rows = await conn.execute(select(best))
    return {r.carer_id: (r.epoch, r.head_seq, r.acked) for r in rows}


async def entry_time(conn: AsyncConnection, carer_id: str, epoch: int, seq: int) -> int | None:
    row = (
        await conn.execute(
            select(feed_entries.c.committed_at).where(
                feed_entries.c.carer_id == carer_id, feed_entries.c.epoch == epoch, feed_entries.c.seq == seq
            )
        )
    ).first()
    return None if row is None else int(row.committed_at)


def among(conn: AsyncConnection, column: ColumnElement[str], values: list[str]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(array)``: one bound parameter
    however many values, so a thousand carers cost no thousand placeholders to render."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String), unique=True))
    return column.in_(values)


async def carer_names(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await conn.execute(
        select(users.c.id, users.c.name, users.c.branch_id).where(among(conn, users.c.id, carer_ids))
    )
    return {r.id: (r.name, r.branch_id) for r in rows}
