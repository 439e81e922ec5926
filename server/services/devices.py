"""The device registry: devices, their carers, their tokens, and enrolment codes.

Devices are never hard-deleted: care records and the mutation ledger point at them, so
"delete" hides the device, revokes its tokens and closes its socket, keeping history.
"""

from __future__ import annotations

import secrets
import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.bus.base import Bus
from server.clock import Clock
from server.ids import hash_token, new_id, new_token
from server.services import device_audit, device_effects
from server.services.carer_lookup import carer_branches_steps
from server.services.device_effects import EffectKind
from server.services.errors import Conflict, Gone, InvalidInput, NotFound, Unauthorized
from server.store.database import Database
from server.store.hot.steps import run_on_sqlalchemy
from server.store.schema import branches, credentials, device_users, devices, enrolment_codes, users
from server.tunables import ENROLMENT_CODE_TTL_S

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone


@dataclass(frozen=True)
class NewDevice:
    device_id: str
    token: str | None


@dataclass(frozen=True)
class EnrolmentCode:
    code: str
    expires_at_ms: int


@dataclass(frozen=True)
class Enrolled:
    device_id: str
    token: str


def canonical_uuid(value: str) -> str:
    """The UUID in canonical lower-case form; InvalidInput if it is not a UUID."""
    try:
        return str(uuidlib.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput(f"{value!r} is not a UUID (expected e.g. 6f1c9a52-1b2c-4d5e-8f90-123456789abc)") from exc


class DeviceService:
    """The registry; every change that affects an open socket emits its effect here
    (``server/services/device_effects.py``), whichever entry point called."""

    def __init__(self, db: Database, clock: Clock, bus: Bus | None = None) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus

    # ------------------------------------------------------------ registry

    async def create_device(
        self,
        tenant_id: str,
        *,
        name: str,
        carer_ids: list[str],
        uuid: str | None = None,
        branch_id: str | None = None,
        platform: str = "",
        model: str = "",
        shared: bool = False,
        issue_token: bool = True,
        actor_id: str | None = None,
    ) -> NewDevice:
        """Register a device for some carers; with ``issue_token`` return its only plaintext token.

        Without ``branch_id`` the device takes its carers' branch when they share one (a
        device belongs where its carer is); carers of several branches leave it branchless,
        and the report shows it to each of those branches through its carers."""
        _check_name(name)
        device_uuid = canonical_uuid(uuid) if uuid is not None else None
        device_id = new_id()
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            if branch_id is not None:
                await _require_branch(conn, tenant_id, branch_id)
            else:
                branch_id = await _carers_branch(conn, tenant_id, carer_ids)
            if device_uuid is not None:
                await _require_free_uuid(conn, tenant_id, device_uuid)
            await _check_carers(conn, tenant_id, carer_ids)
            await conn.execute(
                insert(devices).values(
                    id=device_id,
                    tenant_id=tenant_id,
                    branch_id=branch_id,
                    uuid=device_uuid,
                    name=name,
                    platform=platform[:32],
                    model=model[:100],
                    shared=shared,
                    created_at=now,
                )
            )
            await _set_carers(conn, device_id, carer_ids)
            token = await _issue_device_token(conn, tenant_id, device_id, now) if issue_token else None
            if actor_id is not None:
                await device_audit.record(conn, tenant_id, device_id, "enrolled", actor_id, now, name)
        return NewDevice(device_id=device_id, token=token)

    async def rename(self, tenant_id: str, device_id: str, name: str, actor_id: str | None = None) -> None:
        _check_name(name)
        async with self.db.write() as conn:
            old = await _live_device(conn, tenant_id, device_id)
            await conn.execute(update(devices).where(devices.c.id == device_id).values(name=name))
            if actor_id is not None:
                detail = f"{old.name} → {name}"
                await device_audit.record(conn, tenant_id, device_id, "renamed", actor_id, self.clock.now_ms(), detail)

    async def assign(self, tenant_id: str, device_id: str, carer_ids: list[str], branch_id: str | None) -> None:
        """Replace the device's carers (and branch). Its socket must reconnect to follow them."""
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            if branch_id is not None:
                await _require_branch(conn, tenant_id, branch_id)
                await conn.execute(update(devices).where(devices.c.id == device_id).values(branch_id=branch_id))
            await _check_carers(conn, tenant_id, carer_ids)
            await conn.execute(delete(device_users).where(device_users.c.device_id == device_id))
            await _set_carers(conn, device_id, carer_ids)
            await conn.execute(update(devices).where(devices.c.id == device_id).values(shared=len(carer_ids) > 1))
            effect = await device_effects.record(conn, device_id, EffectKind.RECONNECT, self.clock.now_ms())
        await device_effects.announce(self.bus, effect)

    async def deactivate(self, tenant_id: str, device_id: str, actor_id: str | None = None) -> None:
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            await conn.execute(update(devices).where(devices.c.id == device_id).values(active=False))
            await _void_codes(conn, device_id, self.clock.now_ms())
            effect = await device_effects.record(conn, device_id, EffectKind.REVOKE, self.clock.now_ms())
            if actor_id is not None:
                await device_audit.record(conn, tenant_id, device_id, "deactivated", actor_id, self.clock.now_ms())
        await device_effects.announce(self.bus, effect)

    async def reactivate(self, tenant_id: str, device_id: str, actor_id: str | None = None) -> None:
        """Let a deactivated device connect again with its token (if not revoked meanwhile)."""
        async with self.db.write() as conn:
            device = await _live_device(conn, tenant_id, device_id)
            if device.active:
                raise Conflict(f"device {device_id} is already active")
            await conn.execute(update(devices).where(devices.c.id == device_id).values(active=True))
            if actor_id is not None:
                await device_audit.record(conn, tenant_id, device_id, "reactivated", actor_id, self.clock.now_ms())

    async def delete(self, tenant_id: str, device_id: str) -> None:
        """Hide the device for good, revoke its tokens; its records stay."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            await conn.execute(update(devices).where(devices.c.id == device_id).values(active=False, deleted_at=now))
            await _revoke_tokens(conn, device_id, now)
            await _void_codes(conn, device_id, now)
            effect = await device_effects.record(conn, device_id, EffectKind.REVOKE, now)
        await device_effects.announce(self.bus, effect)

    async def demand_resync(self, tenant_id: str, device_id: str) -> None:
        """Remember that the office wants a clean sync; cleared when one completes."""
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            await conn.execute(
                update(devices).where(devices.c.id == device_id).values(resync_requested_at=self.clock.now_ms())
            )
            effect = await device_effects.record(conn, device_id, EffectKind.RESYNC, self.clock.now_ms())
        await device_effects.announce(self.bus, effect)

    async def revoke(self, tenant_id: str, device_id: str, actor_id: str | None = None) -> None:
        """Revoke every token of the device; its open socket is closed (4101)."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            voided = await _void_codes(conn, device_id, now)
            if not await _revoke_tokens(conn, device_id, now) and not voided:
                raise NotFound(f"device {device_id} has no live token")
            effect = await device_effects.record(conn, device_id, EffectKind.REVOKE, now)
            if actor_id is not None:
                await device_audit.record(conn, tenant_id, device_id, "revoked", actor_id, now)
        await device_effects.announce(self.bus, effect)

    async def rotate_token(self, tenant_id: str, device_id: str) -> str:
        """A new token; the old ones stop working at once (an open socket is closed, 4101)."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            await _revoke_tokens(conn, device_id, now)
            token = await _issue_device_token(conn, tenant_id, device_id, now)
            effect = await device_effects.record(conn, device_id, EffectKind.REVOKE, now)
        await device_effects.announce(self.bus, effect)
        return token

    # ------------------------------------------------------------ enrolment

    async def issue_enrolment_code(
        self, tenant_id: str, device_id: str, ttl_s: int = ENROLMENT_CODE_TTL_S, actor_id: str | None = None
    ) -> EnrolmentCode:
        code = "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await _live_device(conn, tenant_id, device_id)
            await conn.execute(
                insert(enrolment_codes).values(
                    id=new_id(),
                    tenant_id=tenant_id,
                    device_id=device_id,
                    code_hash=hash_token(_normal_code(code)),
                    created_at=now,
                    expires_at=now + ttl_s * 1000,
                )
            )
            if actor_id is not None:
                await device_audit.record(conn, tenant_id, device_id, "code", actor_id, now)
        return EnrolmentCode(code=code, expires_at_ms=now + ttl_s * 1000)

    async def enrol(self, code: str, device_uuid: str, app_version: str, platform: str) -> Enrolled:
        """Exchange a one-time code for the device's token (older tokens are revoked)."""
        device_uuid = canonical_uuid(device_uuid)
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(enrolment_codes).where(enrolment_codes.c.code_hash == hash_token(_normal_code(code)))
                )
            ).first()
            if row is None:
                raise Unauthorized("unknown enrolment code")
            if row.used_at is not None:
                raise Gone("this enrolment code was already used; ask the office for a new one")
            if row.voided_at is not None:
                raise Gone("this enrolment code was voided (device revoked or deactivated); ask the office")
            if row.expires_at <= now:
                raise Gone("this enrolment code has expired; ask the office for a new one")
            device = await _live_device(conn, row.tenant_id, row.device_id)
            if not device.active:
                raise Gone("this device was deactivated; ask the office")
            if device.uuid is not None and device.uuid != device_uuid:
                raise Conflict("this code belongs to a device with another UUID")
            if device.uuid is None:
                await _require_free_uuid(conn, row.tenant_id, device_uuid)
            claimed = await conn.execute(
                update(enrolment_codes)
                .where(enrolment_codes.c.id == row.id, enrolment_codes.c.used_at.is_(None))
                .values(used_at=now)
            )
            if not claimed.rowcount:
                raise Gone("this enrolment code was already used; ask the office for a new one")
            await conn.execute(
                update(devices)
                .where(devices.c.id == row.device_id)
                .values(uuid=device_uuid, app_version=app_version[:64], platform=platform[:32])
            )
            revoked = await _revoke_tokens(conn, row.device_id, now)
            token = await _issue_device_token(conn, row.tenant_id, row.device_id, now)
            # The older tokens stop working on every node (sockets, identity caches).
            effect = await device_effects.record(conn, row.device_id, EffectKind.REVOKE, now) if revoked else None
        if effect is not None:
            await device_effects.announce(self.bus, effect)
        return Enrolled(device_id=row.device_id, token=token)


def _normal_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a device name is 1 to 200 characters")


async def _live_device(conn: AsyncConnection, tenant_id: str, device_id: str):  # type: ignore[no-untyped-def]
    row = (
        await conn.execute(
            select(devices).where(
                devices.c.id == device_id, devices.c.tenant_id == tenant_id, devices.c.deleted_at.is_(None)
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"device {device_id} not found")
    return row


async def _require_branch(conn: AsyncConnection, tenant_id: str, branch_id: str) -> None:
    found = await conn.execute(
        select(branches.c.id).where(branches.c.id == branch_id, branches.c.tenant_id == tenant_id)
    )
    if found.first() is None:
        raise NotFound(f"branch {branch_id} not found")


async def _require_free_uuid(conn: AsyncConnection, tenant_id: str, device_uuid: str) -> None:
    taken = await conn.execute(
        select(devices.c.id).where(
            devices.c.tenant_id == tenant_id, devices.c.uuid == device_uuid, devices.c.deleted_at.is_(None)
        )
    )
    if taken.first() is not None:
        raise Conflict(f"a device with uuid {device_uuid} already exists in this tenant")


async def _check_carers(conn: AsyncConnection, tenant_id: str, carer_ids: list[str]) -> None:
    if len(set(carer_ids)) != len(carer_ids):
        raise InvalidInput.about("carer_ids", "lists a carer twice")
    found = await run_on_sqlalchemy(conn, carer_branches_steps(tenant_id, carer_ids))
    if set(found) != set(carer_ids):
        raise InvalidInput.about("carer_ids", "must all be carers of this tenant")


async def _carers_branch(conn: AsyncConnection, tenant_id: str, carer_ids: list[str]) -> str | None:
    """The branch a device without one belongs to: its carers' branch, when they share one."""
    if not carer_ids:
        return None
    found = {
        r.branch_id
        for r in await conn.execute(
            select(users.c.branch_id).where(users.c.id.in_(carer_ids), users.c.tenant_id == tenant_id)
        )
    }
    return found.pop() if len(found) == 1 else None


async def _set_carers(conn: AsyncConnection, device_id: str, carer_ids: list[str]) -> None:
    if carer_ids:
        await conn.execute(insert(device_users), [{"device_id": device_id, "user_id": c} for c in carer_ids])


async def _revoke_tokens(conn: AsyncConnection, device_id: str, now: int) -> int:
    result = await conn.execute(
        update(credentials)
        .where(credentials.c.device_id == device_id, credentials.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


async def _void_codes(conn: AsyncConnection, device_id: str, now: int) -> int:
    """Void the device's outstanding enrolment codes (revoked, deactivated or deleted)."""
    result = await conn.execute(
        update(enrolment_codes)
        .where(
            enrolment_codes.c.device_id == device_id,
            enrolment_codes.c.used_at.is_(None),
            enrolment_codes.c.voided_at.is_(None),
            enrolment_codes.c.expires_at > now,
        )
        .values(voided_at=now)
    )
    return int(result.rowcount)


async def _issue_device_token(conn: AsyncConnection, tenant_id: str, device_id: str, now: int) -> str:
    token = new_token("cdt")
    await conn.execute(
        insert(credentials).values(
            id=new_id(),
            tenant_id=tenant_id,
            kind="device",
            token_hash=hash_token(token),
            device_id=device_id,
            created_at=now,
        )
    )
    return token
