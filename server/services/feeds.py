"""Feeds: ordered logs with gap-free seqs, read by heads and ranges.

Two families share this code: each carer's feed (rota changes for their devices) and
each console scope's feed (office notifications for a branch). An entry stores its
frame already encoded, so pushes and replays send the same bytes without re-encoding.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Select, Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.codec import encode
from protocol.frames import Change, Time, VisitUpsert
from protocol.limits import MAX_CHANGE_FRAME_BYTES
from server.bus import channels, envelope
from server.bus.base import Bus
from server.bus.channels import ChannelKind
from server.services.visit_views import load_visit_view
from server.store.hot.steps import Steps, run_on_sqlalchemy
from server.store.schema import console_events, console_feeds, feed_entries, feeds, visits
from server.store.upsert import insert_for


@dataclass(frozen=True)
class FeedFamily:
    heads: Table
    entries: Table
    key: str
    """Name of the feed-id column in both tables."""
    channel_kind: ChannelKind

    def channel(self, feed_id: str) -> str:
        return channels.name(self.channel_kind, feed_id)


log = logging.getLogger(__name__)

CARERS = FeedFamily(feeds, feed_entries, "carer_id", ChannelKind.FEED)
CONSOLE = FeedFamily(console_feeds, console_events, "scope_id", ChannelKind.CONSOLE)
FAMILY_OF_KIND = {CARERS.channel_kind: CARERS, CONSOLE.channel_kind: CONSOLE}


@dataclass(frozen=True)
class Appended:
    """A committed feed entry, ready to ring the bus with."""

    channel: str
    epoch: int
    seq: int
    frame: bytes


@dataclass(frozen=True)
class Head:
    epoch: int
    seq: int
    compacted: int = 0
    """Entries up to here were removed by retention (carer feeds only)."""


async def create_feed(conn: AsyncConnection, tenant_id: str, carer_id: str) -> None:
    await conn.execute(insert(feeds).values(carer_id=carer_id, tenant_id=tenant_id, epoch=1, head_seq=0))


async def ensure_console_feed(conn: AsyncConnection, tenant_id: str, scope_id: str) -> None:
    await conn.execute(
        insert_for(conn, console_feeds)
        .values(scope_id=scope_id, tenant_id=tenant_id, epoch=1, head_seq=0)
        .on_conflict_do_nothing(index_elements=[console_feeds.c.scope_id])
    )


def append_steps(
    family: FeedFamily, feed_id: str, builds: list[Callable[[int, int], bytes]], values: dict[str, Any]
) -> Steps[list[Appended]]:
    """Append entries to one feed: one seq allocation, one multi-row insert; each entry's
    frame is ``build(epoch, seq)``, its other columns ``values``. The one definition of a
    feed append, run as a hot write (rota changes) or inside an ORM transaction
    (:func:`append_entries`: console events).

    The UPDATE ... RETURNING row-locks the feed until commit, so concurrent writers on any
    number of nodes get consecutive seqs. Callers append in feed-id order.
    """
    if not builds:
        return []
    rows = yield (_advance_head_sql(family.heads.name, family.key), (len(builds), feed_id))
    if not rows:
        raise LookupError(f"no {family.heads.name} row for {feed_id}")
    epoch, head = int(rows[0][0]), int(rows[0][1])
    first = head - len(builds) + 1
    appended = [
        Appended(channel=family.channel(feed_id), epoch=epoch, seq=first + i, frame=build(epoch, first + i))
        for i, build in enumerate(builds)
    ]
    names = tuple(values)
    params: list[Any] = []
    for entry in appended:
        params += (feed_id, entry.epoch, entry.seq, entry.frame.decode(), *values.values())
    yield (_insert_entries_sql(family.entries.name, family.key, names, len(appended)), tuple(params))
    return appended


@functools.lru_cache(maxsize=8)
def _advance_head_sql(table: str, key: str) -> str:
    return f"UPDATE {table} SET head_seq = head_seq + ? WHERE {key} = ? RETURNING epoch, head_seq"


@functools.lru_cache(maxsize=64)
def _insert_entries_sql(table: str, key: str, names: tuple[str, ...], rows: int) -> str:
    columns = (key, "epoch", "seq", "frame", *names)
    row = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * rows)


async def append_entry(
    conn: AsyncConnection,
    family: FeedFamily,
    feed_id: str,
    build: Callable[[int, int], bytes],
    values: dict[str, Any],
) -> Appended:
    """Append one entry to a feed inside ``conn``'s transaction (:func:`append_steps`)."""
    [appended] = await run_on_sqlalchemy(conn, append_steps(family, feed_id, [build], values))
    return appended


async def append_entries(
    conn: AsyncConnection,
    family: FeedFamily,
    feed_id: str,
    builds: list[Callable[[int, int], bytes]],
    values: dict[str, Any],
) -> list[Appended]:
    """Append entries to a feed inside ``conn``'s transaction (:func:`append_steps`)."""
    return await run_on_sqlalchemy(conn, append_steps(family, feed_id, builds, values))


def _heads_query(family: FeedFamily) -> Select[Any]:
    key = family.heads.c[family.key]
    columns = [key.label("feed"), family.heads.c.epoch, family.heads.c.head_seq]
    if "compacted_through" in family.heads.c:
        columns.append(family.heads.c.compacted_through)
    return select(*columns).where(key.in_(bindparam("feed_ids", expanding=True)))


_HEADS_QUERIES = {CARERS.channel_kind: _heads_query(CARERS), CONSOLE.channel_kind: _heads_query(CONSOLE)}
"""Built once: every connect and heartbeat reads heads."""


async def heads(conn: AsyncConnection, feed_ids: list[str], family: FeedFamily = CARERS) -> dict[str, Head]:
    found: dict[str, Head] = {}
    query = _HEADS_QUERIES[family.channel_kind]
    for start in range(0, len(feed_ids), 500):
        chunk = feed_ids[start : start + 500]
        for r in await conn.execute(query, {"feed_ids": chunk}):
            found[r.feed] = Head(epoch=r.epoch, seq=r.head_seq, compacted=getattr(r, "compacted_through", 0))
    return found


def _frames_query(family: FeedFamily) -> Select[Any]:
    """A page of one feed's frames, built once per family (every catch-up runs it)."""
    entries = family.entries
    return (
        select(entries.c.seq, entries.c.frame)
        .where(
            entries.c[family.key] == bindparam("feed_id"),
            entries.c.epoch == bindparam("epoch"),
            entries.c.seq > bindparam("after_seq"),
        )
        .order_by(entries.c.seq)
        .limit(bindparam("limit"))
    )


_FRAMES_QUERIES = {CARERS.channel_kind: _frames_query(CARERS), CONSOLE.channel_kind: _frames_query(CONSOLE)}


async def read_frames(
    conn: AsyncConnection, feed_id: str, epoch: int, after_seq: int, limit: int, family: FeedFamily = CARERS
) -> list[tuple[int, bytes]]:
    """Stored frames of one feed with seq > ``after_seq``, in order."""
    rows = await conn.execute(
        _FRAMES_QUERIES[family.channel_kind],
        {"feed_id": feed_id, "epoch": epoch, "after_seq": after_seq, "limit": limit},
    )
    found = [(r.seq, r.frame.encode()) for r in rows]
    if family is CARERS:
        for index, (seq, frame) in enumerate(found):
            if not _device_can_decode(frame):
                found[index] = (seq, await _rerendered(conn, frame))
    return found


_change_decoder = msgspec.json.Decoder(Change)


def _device_can_decode(frame: bytes) -> bool:
    if len(frame) > MAX_CHANGE_FRAME_BYTES:
        return False
    try:
        _change_decoder.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


async def _rerendered(conn: AsyncConnection, frame: bytes) -> bytes:
    """A stored change no device can decode (written before the wire limits were enforced
    on office input) is sent as the visit's current state, cut to the limits, at the same
    position: the device stays level instead of failing on it for good."""
    stored = msgspec.json.decode(frame)
    visit_id = stored["payload"]["visit"]["id"]
    row = (await conn.execute(select(visits.c.tenant_id).where(visits.c.id == visit_id))).one()
    view = await load_visit_view(conn, row.tenant_id, visit_id)
    change = Change(
        feed=stored["feed"],
        epoch=stored["epoch"],
        seq=stored["seq"],
        committed_at=msgspec.convert(stored["committed_at"], Time),
        payload=VisitUpsert(visit=view),
    )
    log.warning("feed %s seq %s: stored change undecodable; sent the visit's current state", change.feed, change.seq)
    return encode(change)


async def ring(bus: Bus, appended: list[Appended]) -> None:
    """Publish committed entries. A lost publish is repaired by heartbeat heads."""
    for entry in appended:
        await bus.publish(entry.channel, envelope.pack(entry.epoch, entry.seq, entry.frame))
