"""Clean sync: a fresh snapshot of a carer's scope, served in resumable pages.

Taking a snapshot row-locks the carer's feed, reads its head and renders every visit in
the tenant's window (yesterday to 14 days ahead by default) into stored pages, so every
page shows the same moment: the device swaps them in and continues from that position.
Cursors are ``<snapshot id>.<page>``; a snapshot belongs to one device and feed and
expires after ``SNAPSHOT_TTL_S``. Pages are served in order; the last one served may be
asked for again (a retry after a cut connection).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import CleanSyncRequest, CleanSyncResponse, VisitView
from server.clock import Clock, to_datetime, to_ms
from server.ids import new_id
from server.observability.instruments import timed_sync
from server.services.activity import ActivityRecorder
from server.services.identity import DeviceIdentity
from server.services.visit_views import load_visit_views
from server.store.database import Database
from server.store.schema import devices, feeds, snapshot_pages, snapshots, tenants, visit_assignments, visits
from server.tunables import CLEAN_SYNC_PAGE_BYTES as PAGE_BYTES
from server.tunables import SNAPSHOT_TTL_S

_visits_decoder = msgspec.json.Decoder(list[VisitView])


class CleanSyncService:
    def __init__(self, db: Database, clock: Clock, activity: ActivityRecorder) -> None:
        self.db = db
        self.clock = clock
        self.activity = activity

    @timed_sync("clean")
    async def serve(self, device: DeviceIdentity, request: CleanSyncRequest) -> CleanSyncResponse:
        """Answer one page; bookkeeping counts a completed clean sync as a successful sync."""
        try:
            response = await self._serve(device, request)
        except ProtocolError as exc:
            self.activity.record_call(device.device_id, ok=False, error_code=exc.code)
            raise
        complete = response.next_cursor is None
        self.activity.record_call(device.device_id, ok=True, synced=complete)
        if complete:
            await self._clear_demand(device.device_id, response.snapshot_id)
        return response

    async def _serve(self, device: DeviceIdentity, request: CleanSyncRequest) -> CleanSyncResponse:
        if request.feed not in device.carers:
            raise ProtocolError(
                ErrorCode.UNKNOWN_FEED, f"feed {request.feed} is not on this device", request.request_id
            )
        if request.cursor is None:
            snapshot_id = await self._take(device, request.feed, request.page_size)
            page = 1
        else:
            snapshot_id, page = _parse_cursor(request.cursor, request.request_id)
        return await self._page(device, request, snapshot_id, page)

    async def _take(self, device: DeviceIdentity, carer_id: str, page_size: int) -> str:
        now = self.clock.now_ms()
        snapshot_id = new_id()
        async with self.db.write() as conn:
            # Holding the feed row: no change for this carer can commit while we read.
            feed = (await conn.execute(select(feeds).where(feeds.c.carer_id == carer_id).with_for_update())).one()
            since, until = await _window(conn, device.tenant_id, now)
            ids = [
                r.id
                for r in await conn.execute(
                    select(visits.c.id)
                    .join(visit_assignments, visit_assignments.c.visit_id == visits.c.id)
                    .where(
                        visit_assignments.c.carer_id == carer_id,
                        visit_assignments.c.unassigned_at.is_(None),
                        visits.c.starts_at >= since,
                        visits.c.starts_at < until,
                    )
                    .order_by(visits.c.starts_at, visits.c.id)
                )
            ]
            pages = _paginate(await load_visit_views(conn, device.tenant_id, ids), page_size)
            await conn.execute(
                delete(snapshots).where(snapshots.c.device_id == device.device_id, snapshots.c.expires_at < now)
            )
            await conn.execute(
                insert(snapshots).values(
                    id=snapshot_id,
                    device_id=device.device_id,
                    carer_id=carer_id,
                    epoch=feed.epoch,
                    seq=feed.head_seq,
                    pages=len(pages),
                    created_at=now,
                    expires_at=now + SNAPSHOT_TTL_S * 1000,
                )
            )
            await conn.execute(
                insert(snapshot_pages),
                [{"snapshot_id": snapshot_id, "page": n, "body": body} for n, body in enumerate(pages, start=1)],
            )
        return snapshot_id

    async def _page(
        self, device: DeviceIdentity, request: CleanSyncRequest, snapshot_id: str, page: int
    ) -> CleanSyncResponse:
        now = self.clock.now_ms()
        rid = request.request_id
        async with self.db.write() as conn:
            snap = (await conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id))).first()
            if snap is None or snap.device_id != device.device_id or snap.carer_id != request.feed:
                raise ProtocolError(ErrorCode.INVALID_CURSOR, "unknown cursor for this device and feed", rid)
            if snap.expires_at <= now:
                raise ProtocolError(ErrorCode.SNAPSHOT_EXPIRED, "the snapshot expired; start a new clean sync", rid)
            if not 1 <= page <= snap.pages:
                raise ProtocolError(ErrorCode.INVALID_CURSOR, f"page {page} is not in this snapshot", rid)
            if page not in (snap.served_through, snap.served_through + 1):
                raise ProtocolError(
                    ErrorCode.CURSOR_OUT_OF_ORDER,
                    f"pages come in order: ask for page {snap.served_through + 1} (or {snap.served_through} again)",
                    rid,
                )
            body = (
                await conn.execute(
                    select(snapshot_pages.c.body).where(
                        snapshot_pages.c.snapshot_id == snapshot_id, snapshot_pages.c.page == page
                    )
                )
            ).scalar_one()
            await conn.execute(
                update(snapshots)
                .where(snapshots.c.id == snapshot_id)
                .values(served_through=max(page, snap.served_through))
            )
        return CleanSyncResponse(
            request_id=rid,
            feed=request.feed,
            snapshot_id=snapshot_id,
            epoch=snap.epoch,
            seq=snap.seq,
            page=page,
            pages=snap.pages,
            visits=_visits_decoder.decode(body),
            next_cursor=f"{snapshot_id}.{page + 1}" if page < snap.pages else None,
        )

    async def _clear_demand(self, device_id: str, snapshot_id: str) -> None:
        """A completed clean sync satisfies an office demand made before it started."""
        async with self.db.write() as conn:
            created = (await conn.execute(select(snapshots.c.created_at).where(snapshots.c.id == snapshot_id))).scalar()
            await conn.execute(
                update(devices)
                .where(devices.c.id == device_id, devices.c.resync_requested_at <= created)
                .values(resync_requested_at=None)
            )


def _parse_cursor(cursor: str, request_id: str) -> tuple[str, int]:
    snapshot_id, _, page = cursor.rpartition(".")
    if not snapshot_id or not page.isdigit():
        raise ProtocolError(ErrorCode.INVALID_CURSOR, "malformed cursor", request_id)
    return snapshot_id, int(page)


def _paginate(views: list[VisitView], page_size: int) -> list[str]:
    """Encoded pages of at most ``page_size`` visits and about 192 KiB; at least one page."""
    pages: list[str] = []
    current: list[VisitView] = []
    size = 0
    for view in views:
        encoded = len(msgspec.json.encode(view))
        if current and (len(current) >= page_size or size + encoded > PAGE_BYTES):
            pages.append(msgspec.json.encode(current).decode())
            current, size = [], 0
        current.append(view)
        size += encoded
    pages.append(msgspec.json.encode(current).decode())
    return pages


async def _window(conn: AsyncConnection, tenant_id: str, now_ms: int) -> tuple[int, int]:
    """[start of yesterday, start of the day after the window) in the tenant's time zone."""
    tenant = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).one()
    local = to_datetime(now_ms).astimezone(ZoneInfo(tenant.timezone))
    midnight = datetime(local.year, local.month, local.day, tzinfo=local.tzinfo)
    since = midnight - timedelta(days=tenant.clean_sync_days_back)
    until = midnight + timedelta(days=tenant.clean_sync_days_ahead + 1)
    return to_ms(since), to_ms(until)


async def _drop_expired(conn: AsyncConnection, device_id: str, now_ms: int) -> None:
    expired = select(snapshots.c.id).where(snapshots.c.device_id == device_id, snapshots.c.expires_at < now_ms)
    await conn.execute(delete(snapshot_pages).where(snapshot_pages.c.snapshot_id.in_(expired)))
    await conn.execute(delete(snapshots).where(snapshots.c.device_id == device_id, snapshots.c.expires_at < now_ms))
