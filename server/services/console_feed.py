"""The office console's notification feeds: one per branch, plus one per tenant."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.codec import encode
from protocol.console import ConsoleEvent, ConsolePayload, DeviceEventBase
from server.clock import to_datetime
from server.services import feeds
from server.services.identity import Staff
from server.store.schema import branches, device_users, devices

TENANT_SCOPE_NAME = "Whole agency"


def scope_of(tenant_id: str, branch_id: str | None) -> str:
    """Events about a branch go to its feed; events with no branch to the tenant's."""
    return branch_id or tenant_id


async def append_event(
    conn: AsyncConnection, tenant_id: str, scope_id: str, payload: ConsolePayload, now_ms: int, *, ensure: bool = True
) -> feeds.Appended:
    """Append an event to a scope's feed inside the caller's transaction (creating the
    feed first unless the caller already did, ``ensure=False``)."""
    if ensure:
        await feeds.ensure_console_feed(conn, tenant_id, scope_id)

    def build(epoch: int, seq: int) -> bytes:
        return encode(ConsoleEvent(feed=scope_id, epoch=epoch, seq=seq, at=to_datetime(now_ms), event=payload))

    return await feeds.append_entry(conn, feeds.CONSOLE, scope_id, build, {"created_at": now_ms})


async def append_events(
    conn: AsyncConnection, tenant_id: str, scope_id: str, payloads: list[ConsolePayload], now_ms: int
) -> list[feeds.Appended]:
    """Append several events to one scope's feed in a handful of statements (a pass that
    raises a thousand alerts writes them as one batch per branch)."""
    if not payloads:
        return []
    await feeds.ensure_console_feed(conn, tenant_id, scope_id)

    def builder(payload: ConsolePayload) -> Callable[[int, int], bytes]:
        def build(epoch: int, seq: int) -> bytes:
            return encode(ConsoleEvent(feed=scope_id, epoch=epoch, seq=seq, at=to_datetime(now_ms), event=payload))

        return build

    builds = [builder(p) for p in payloads]
    return await feeds.append_entries(conn, feeds.CONSOLE, scope_id, builds, {"created_at": now_ms})


async def visible_scopes(conn: AsyncConnection, staff: Staff) -> dict[str, str]:
    """Scope id -> display name for every feed this staff member may follow."""
    query = select(branches.c.id, branches.c.name).where(branches.c.tenant_id == staff.tenant_id)
    if staff.role != "admin":
        query = query.where(branches.c.id == staff.branch_id)
    scopes = {r.id: r.name for r in await conn.execute(query.order_by(branches.c.name))}
    if staff.role == "admin":
        scopes[staff.tenant_id] = TENANT_SCOPE_NAME
    for scope_id in scopes:
        await feeds.ensure_console_feed(conn, staff.tenant_id, scope_id)
    return scopes


async def append_device_events(
    conn: AsyncConnection, device_ids: list[str], kind: type[DeviceEventBase], now_ms: int
) -> list[feeds.Appended]:
    """One ``kind`` event per device, on the feed of the device's branch."""
    if not device_ids:
        return []
    rows = (
        await conn.execute(
            select(devices.c.id, devices.c.name, devices.c.tenant_id, devices.c.branch_id)
            .where(devices.c.id.in_(device_ids))
            .order_by(devices.c.id)
        )
    ).all()
    carers: dict[str, list[str]] = {}
    for link in await conn.execute(
        select(device_users.c.device_id, device_users.c.user_id).where(device_users.c.device_id.in_(device_ids))
    ):
        carers.setdefault(link.device_id, []).append(link.user_id)
    by_scope: dict[tuple[str, str], list[ConsolePayload]] = {}
    for r in rows:
        payload = kind(device_id=r.id, device_name=r.name, carer_ids=sorted(carers.get(r.id, [])))
        by_scope.setdefault((scope_of(r.tenant_id, r.branch_id), r.tenant_id), []).append(payload)  # type: ignore[arg-type]
    appended = []
    for (scope, tenant_id), payloads in sorted(by_scope.items()):  # feeds locked in id order
        # a reconnect storm brings hundreds of devices of one branch: one head update and
        # one multi-row insert per branch, not two statements per device
        appended.extend(await append_events(conn, tenant_id, scope, payloads, now_ms))
    return appended
