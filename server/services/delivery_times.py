"""When each change reached a phone of its carer: "delivered" with a time, per change.

Acks are cumulative and written in batches (:mod:`server.services.activity`), so the store
does not keep one row per change and phone. Instead, with each batch, every acknowledged
position becomes a **delivery mark** (carer, epoch, seq, delivered_at): by
``delivered_at``, the moment a node received the ack (not the later batch write), a phone
of the carer held every change of that epoch up to ``seq``. A mark is written once (the
first ack of that position wins), so a position reported again, by a reconnect's ``hello``
or another phone, adds nothing.

The rule: a change was **delivered at the earliest mark of its carer and epoch at or
above its seq**. That is the first moment the server had proof a phone of the carer held
it, over any transport. A change acknowledged before marks were kept has none (delivered,
time unknown). Marks cost at most one row per change and carer, usually far fewer (one per
ack batch of a device); retention removes them with the changes they cover: a mark older
than the retention cut-off covers only changes committed before it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.store.schema import delivery_marks
from server.store.upsert import insert_for

Change = tuple[str, int, int]
"""(carer id, epoch, seq) of one change."""


async def mark_deliveries(conn: AsyncConnection, acks: Iterable[tuple[str, int, int, int]]) -> None:
    """Inside the batch's write: a mark per (carer, epoch, seq, received at) ack, unless one
    is already there (the earliest receipt of a position stands)."""
    earliest: dict[Change, int] = {}
    for carer_id, epoch, seq, at in acks:
        key = (carer_id, epoch, seq)
        earliest[key] = min(at, earliest.get(key, at))
    if not earliest:
        return
    rows = [{"carer_id": c, "epoch": e, "seq": s, "delivered_at": at} for (c, e, s), at in sorted(earliest.items())]
    await conn.execute(insert_for(conn, delivery_marks).on_conflict_do_nothing(), rows)


async def delivered_at(conn: AsyncConnection, changes: Iterable[Change]) -> dict[Change, int]:
    """change -> when it was delivered (ms), for those a mark covers; one statement per
    (carer, epoch) asked about, reading its marks from the lowest seq asked on."""
    wanted: dict[tuple[str, int], list[int]] = {}
    for carer_id, epoch, seq in changes:
        wanted.setdefault((carer_id, epoch), []).append(seq)
    found: dict[Change, int] = {}
    for (carer_id, epoch), seqs in sorted(wanted.items()):
        rows = (
            await conn.execute(
                select(delivery_marks.c.seq, delivery_marks.c.delivered_at)
                .where(
                    delivery_marks.c.carer_id == carer_id,
                    delivery_marks.c.epoch == epoch,
                    delivery_marks.c.seq >= min(seqs),
                )
                .order_by(delivery_marks.c.seq)
            )
        ).all()
        marked = [r.seq for r in rows]
        earliest_from = _suffix_minimum([r.delivered_at for r in rows])
        for seq in seqs:
            at = bisect_left(marked, seq)
            if at < len(marked):
                found[(carer_id, epoch, seq)] = earliest_from[at]
    return found


def _suffix_minimum(values: list[int]) -> list[int]:
    """``out[i]`` = min(values[i:])."""
    out = list(values)
    for i in range(len(out) - 2, -1, -1):
        out[i] = min(out[i], out[i + 1])
    return out
