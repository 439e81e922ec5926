"""The User Device Relationship report: every device, its carers, its syncing.

Every field of the seed product's report (branch, users, last API call time and success,
last successful sync, device name, app version, UUID) plus: connected now (across
nodes), sync lag per feed (changes and seconds behind), open sync-mismatch alerts, and a
stale flag for devices without a successful sync for longer than the tenant allows.

**Last successful sync** is the last moment the device was proven level with every feed:
now, for a connected device that has acknowledged every feed's head (in a push system
that device is in sync, whether or not it ever ran a standard sync); otherwise the later
of its last completed standard or clean sync and the last acknowledgement that left it
level with every feed *when it was made*. An acknowledgement of seq N at time T proves
the device level with that feed at T when change N+1 was committed after T (or not at
all): a phone that acknowledged 7 of 7 at 04:01 synced successfully at 04:01, even once
changes 8 and 9 have been committed and await it (that is its sync lag, not staleness).
What it last did stays visible: ``last_standard_sync_at`` and ``last_ack_at``.

**State** says whether the device can still connect: ``active``, ``awaiting enrolment``
(no token yet, a code may be outstanding), ``revoked`` (no live token) or ``deactivated``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.acks import acked_in, level, same_epoch
from server.clock import Clock, to_datetime
from server.cluster.presence import connected_devices
from server.services.errors import InvalidInput
from server.services.identity import Staff
from server.services.spreadsheet import safe_cell
from server.services.sync_proof import FeedAck, last_level_at
from server.store.database import Database
from server.store.schema import (
    branches,
    credentials,
    device_acks,
    device_users,
    devices,
    enrolment_codes,
    feed_entries,
    feeds,
    mismatch_alerts,
    tenants,
    users,
)
from server.tunables import MAX_PAGE_NUMBER
from server.tunables import REPORT_MAX_PAGE_SIZE as MAX_PAGE_SIZE
from server.tunables import REPORT_QUERY_CHUNK as _CHUNK

COLUMNS = [
    "device_name",
    "uuid",
    "branch_name",
    "users",
    "last_api_call_at",
    "last_api_call_ok",
    "last_api_error",
    "last_successful_sync_at",
    "in_sync",
    "last_standard_sync_at",
    "last_ack_at",
    "app_version",
    "platform",
    "model",
    "shared",
    "active",
    "connected_now",
    "sync_lag_changes",
    "sync_lag_seconds",
    "stale",
    "open_alerts",
    "device_id",
    "branch_id",
    "state",
]
"""Report columns, in CSV order; every one can be sorted on."""


@dataclass
class FeedLag:
    carer_id: str
    epoch: int
    head: int
    acked: int
    lag_changes: int
    lag_seconds: int


@dataclass
class ReportRow:
    device_id: str
    device_name: str
    uuid: str | None
    branch_id: str | None
    branch_name: str
    users: list[str]
    last_api_call_at: datetime | None
    last_api_call_ok: bool | None
    last_api_error: str | None
    last_successful_sync_at: datetime | None
    in_sync: bool
    """Every feed on the device acknowledged up to its head."""
    last_standard_sync_at: datetime | None
    """The last standard or clean sync that completed (what the device last ran)."""
    last_ack_at: datetime | None
    """The last position the device reported (ack, hello, sync request)."""
    app_version: str
    platform: str
    model: str
    shared: bool
    active: bool
    connected_now: bool
    sync_lag_changes: int
    sync_lag_seconds: int
    stale: bool
    open_alerts: list[str]
    feeds: list[FeedLag] = field(default_factory=list)
    state: str = "active"
    """``active``, ``awaiting enrolment``, ``revoked`` (no live token) or ``deactivated``."""


@dataclass(frozen=True)
class ReportQuery:
    branch_id: str | None = None
    user_id: str | None = None
    stale: bool | None = None
    sort: str = "device_name"
    descending: bool = False
    page: int = 1
    page_size: int | None = 100
    """None: every row (CSV downloads and the CLI); JSON pages hold at most 500."""
    search: str | None = None
    """Only rows whose device name, carers, branch or UUID contain this text (any case)."""

    def check(self) -> None:
        if self.sort not in COLUMNS:
            raise InvalidInput(f"cannot sort on {self.sort!r}; columns: {', '.join(COLUMNS)}")
        if not 1 <= self.page <= MAX_PAGE_NUMBER:
            raise InvalidInput(f"page is 1 to {MAX_PAGE_NUMBER}")
        if self.page_size is not None and not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be 1 to {MAX_PAGE_SIZE}")


@dataclass
class ReportPage:
    rows: list[ReportRow]
    total: int
    page: int
    page_size: int | None
    timezone: str


class DeviceReport:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def build(self, staff: Staff, query: ReportQuery) -> ReportPage:
        query.check()
        branch = staff.scope_branch(query.branch_id)
        now = self.clock.now_ms()
        async with self.db.read() as conn:
            tenant = (await conn.execute(select(tenants).where(tenants.c.id == staff.tenant_id))).one()
            rows = await _rows(conn, staff.tenant_id, branch, query.user_id, now, tenant.stale_after_s * 1000)
        if query.stale is not None:
            rows = [r for r in rows if r.stale == query.stale]
        if query.search:
            wanted = query.search.strip().casefold()
            rows = [r for r in rows if wanted in _searchable(r)]
        rows.sort(key=lambda r: _sort_key(getattr(r, query.sort)), reverse=query.descending)
        present = [r for r in rows if getattr(r, query.sort) is not None]
        missing = [r for r in rows if getattr(r, query.sort) is None]
        ordered = present + missing  # empty values last, either way round
        size = query.page_size or max(1, len(ordered))
        start = (query.page - 1) * size
        return ReportPage(ordered[start : start + size], len(ordered), query.page, query.page_size, tenant.timezone)


def _searchable(row: ReportRow) -> str:
    return " ".join([row.device_name, row.uuid or "", row.branch_name, *row.users]).casefold()


def _sort_key(value: Any) -> Any:
    if isinstance(value, list):
        return len(value)
    return (value is None, value if value is not None else 0)


async def _rows(
    conn: AsyncConnection, tenant_id: str, branch_id: str | None, user_id: str | None, now: int, stale_ms: int
) -> list[ReportRow]:
    query = (
        select(devices, branches.c.name.label("branch_name"))
        .outerjoin(branches, branches.c.id == devices.c.branch_id)
        .where(devices.c.tenant_id == tenant_id, devices.c.deleted_at.is_(None))
    )
    if branch_id is not None:
        # A device belongs to its own branch and to the branches of its carers: a phone
        # registered without a branch, or whose carer moved, still shows where the carer is.
        carer_here = exists().where(
            device_users.c.device_id == devices.c.id,
            users.c.id == device_users.c.user_id,
            users.c.branch_id == branch_id,
        )
        query = query.where(or_(devices.c.branch_id == branch_id, carer_here))
    if user_id is not None:
        query = query.where(exists().where(device_users.c.device_id == devices.c.id, device_users.c.user_id == user_id))
    found = (await conn.execute(query)).all()
    ids = [d.id for d in found]
    carers: dict[str, list[tuple[str, str]]] = {}
    carer_branches: dict[str, list[str]] = {}
    acks: dict[tuple[str, str], tuple[int, int]] = {}
    ack_times: dict[tuple[str, str], int] = {}
    acked_at: dict[str, int] = {}
    online: dict[str, str] = {}
    live_tokens: set[str] = set()
    open_codes: set[str] = set()
    for chunk in _chunks(ids):
        for r in await conn.execute(
            select(device_users.c.device_id, users.c.id, users.c.name, branches.c.name.label("branch_name"))
            .join(users, users.c.id == device_users.c.user_id)
            .outerjoin(branches, branches.c.id == users.c.branch_id)
            .where(device_users.c.device_id.in_(chunk))
            .order_by(users.c.name)
        ):
            carers.setdefault(r.device_id, []).append((r.id, r.name))
            if r.branch_name and r.branch_name not in carer_branches.get(r.device_id, []):
                carer_branches.setdefault(r.device_id, []).append(r.branch_name)
        for ack in await conn.execute(select(device_acks).where(device_acks.c.device_id.in_(chunk))):
            acks[(ack.device_id, ack.carer_id)] = (ack.epoch, ack.seq)
            ack_times[(ack.device_id, ack.carer_id)] = ack.acked_at
            acked_at[ack.device_id] = max(ack.acked_at, acked_at.get(ack.device_id, 0))
        live_tokens.update(await _with_live_token(conn, chunk, now))
        open_codes.update(await _with_open_code(conn, chunk, now))
        online.update(await connected_devices(conn, chunk, now))
    carer_ids = sorted({c for pairs in carers.values() for c, _ in pairs})
    heads: dict[str, tuple[int, int]] = {}
    alerts: dict[str, list[str]] = {}
    for chunk in _chunks(carer_ids):
        for feed in await conn.execute(select(feeds).where(feeds.c.carer_id.in_(chunk))):
            heads[feed.carer_id] = (feed.epoch, feed.head_seq)
        for alert in await conn.execute(
            select(mismatch_alerts.c.id, mismatch_alerts.c.carer_id).where(
                mismatch_alerts.c.carer_id.in_(chunk), mismatch_alerts.c.status == "open"
            )
        ):
            alerts.setdefault(alert.carer_id, []).append(alert.id)
    lags = await _first_unacked_times(conn, ids, carers, acks, heads)
    report = []
    for d in found:
        feed_lags = []
        for carer_id, _name in carers.get(d.id, []):
            epoch, head = heads.get(carer_id, (1, 0))
            acked_epoch, acked = acks.get((d.id, carer_id), (epoch, 0))
            acked = acked_in(epoch, acked_epoch, acked)
            since = lags.get((carer_id, epoch, acked + 1))
            feed_lags.append(
                FeedLag(
                    carer_id=carer_id,
                    epoch=epoch,
                    head=head,
                    acked=acked,
                    lag_changes=max(0, head - acked),
                    lag_seconds=0 if since is None or level(acked, head) else max(0, (now - since) // 1000),
                )
            )
        in_sync = bool(feed_lags) and all(f.lag_changes == 0 for f in feed_lags)
        last_ack = acked_at.get(d.id)
        if in_sync and d.id in online:
            last_success: int | None = now
        else:
            levelled = last_level_at(
                [
                    FeedAck(
                        head=f.head,
                        acked=f.acked,
                        acked_at=ack_times.get((d.id, f.carer_id))
                        if same_epoch(acks.get((d.id, f.carer_id), (0, 0))[0], f.epoch)
                        else None,
                        next_committed_at=lags.get((f.carer_id, f.epoch, f.acked + 1)),
                    )
                    for f in feed_lags
                ]
            )
            proven = [t for t in (d.last_sync_at, levelled) if t is not None]
            last_success = max(proven, default=None)
        report.append(
            ReportRow(
                device_id=d.id,
                device_name=d.name,
                uuid=d.uuid,
                branch_id=d.branch_id,
                branch_name=d.branch_name or ", ".join(carer_branches.get(d.id, [])),
                users=[name for _c, name in carers.get(d.id, [])],
                last_api_call_at=_time(d.last_api_call_at),
                last_api_call_ok=d.last_api_call_ok,
                last_api_error=d.last_api_error,
                last_successful_sync_at=_time(last_success),
                in_sync=in_sync,
                last_standard_sync_at=_time(d.last_sync_at),
                last_ack_at=_time(last_ack),
                app_version=d.app_version,
                platform=d.platform,
                model=d.model,
                shared=bool(d.shared),
                active=bool(d.active),
                connected_now=d.id in online,
                sync_lag_changes=sum(f.lag_changes for f in feed_lags),
                sync_lag_seconds=max((f.lag_seconds for f in feed_lags), default=0),
                stale=last_success is None or now - last_success > stale_ms,
                open_alerts=sorted(a for c, _n in carers.get(d.id, []) for a in alerts.get(c, [])),
                feeds=feed_lags,
                state=_state(bool(d.active), d.id in live_tokens, d.uuid is None or d.id in open_codes),
            )
        )
    return report


def _state(active: bool, live_token: bool, enrolling: bool) -> str:
    if not active:
        return "deactivated"
    if live_token:
        return "active"
    return "awaiting enrolment" if enrolling else "revoked"


async def _with_live_token(conn: AsyncConnection, ids: list[str], now: int) -> set[str]:
    rows = await conn.execute(
        select(credentials.c.device_id).where(
            credentials.c.device_id.in_(ids),
            credentials.c.revoked_at.is_(None),
            or_(credentials.c.expires_at.is_(None), credentials.c.expires_at > now),
        )
    )
    return {r.device_id for r in rows}


async def _with_open_code(conn: AsyncConnection, ids: list[str], now: int) -> set[str]:
    rows = await conn.execute(
        select(enrolment_codes.c.device_id).where(
            enrolment_codes.c.device_id.in_(ids),
            enrolment_codes.c.used_at.is_(None),
            enrolment_codes.c.voided_at.is_(None),
            enrolment_codes.c.expires_at > now,
        )
    )
    return {r.device_id for r in rows}


async def _first_unacked_times(
    conn: AsyncConnection,
    ids: list[str],
    carers: dict[str, list[tuple[str, str]]],
    acks: dict[tuple[str, str], tuple[int, int]],
    heads: dict[str, tuple[int, int]],
) -> dict[tuple[str, int, int], int]:
    """Commit time of the first change each device has not acked, keyed (carer, epoch, seq)."""
    wanted = set()
    for device_id in ids:
        for carer_id, _name in carers.get(device_id, []):
            epoch, head = heads.get(carer_id, (1, 0))
            acked_epoch, acked = acks.get((device_id, carer_id), (epoch, 0))
            acked = acked_in(epoch, acked_epoch, acked)
            if not level(acked, head):
                wanted.add((carer_id, epoch, acked + 1))
    found: dict[tuple[str, int, int], int] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = await conn.execute(
            select(
                feed_entries.c.carer_id, feed_entries.c.epoch, feed_entries.c.seq, feed_entries.c.committed_at
            ).where(tuple_(feed_entries.c.carer_id, feed_entries.c.epoch, feed_entries.c.seq).in_(chunk))
        )
        for r in rows:
            found[(r.carer_id, r.epoch, r.seq)] = r.committed_at
    return found


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else to_datetime(ms)


def to_csv(page: ReportPage) -> str:
    """The page as CSV for a spreadsheet: times in the tenant's time zone with their offset."""
    zone = ZoneInfo(page.timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in page.rows:
        writer.writerow([_cell(getattr(row, column), zone) for column in COLUMNS])
    return out.getvalue()


def _cell(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return safe_cell("; ".join(str(v) for v in value))
    return safe_cell(str(value))  # any text: names, versions, error codes
