"""What the store says about a carer's feed versus their devices' acknowledgements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, and_, cast, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.schema import device_acks, device_users, devices, feed_entries, feeds, tenants, users


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


async def overdue_carers(conn: AsyncConnection, now_ms: int) -> list[Overdue]:
    """Every carer whose first unacknowledged change is older than the tenant's grace period.

    One aggregate over feeds, device assignments and acks, joined to the first unacked
    entry by primary key: a single statement however many carers there are.
    """
    best = _best_acks().subquery()
    grace_ms = cast(tenants.c.mismatch_grace_s, BigInteger) * literal_column("1000")
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
        .where(best.c.head_seq > best.c.acked, feed_entries.c.committed_at <= literal(now_ms, BigInteger) - grace_ms)
    )
    return [
        Overdue(r.carer_id, r.tenant_id, r.epoch, r.head_seq, r.acked, r.committed_at, int(r.grace_ms)) for r in rows
    ]


async def acked_positions(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """carer id -> (epoch, head, best acked seq) for the given carers."""
    best = _best_acks().where(feeds.c.carer_id.in_(carer_ids)).subquery()
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


async def carer_names(conn: AsyncConnection, carer_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await conn.execute(select(users.c.id, users.c.name, users.c.branch_id).where(users.c.id.in_(carer_ids)))
    return {r.id: (r.name, r.branch_id) for r in rows}
