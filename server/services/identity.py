"""Who is calling: a staff member (office) or a device. Resolved from bearer tokens."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.ids import hash_token
from server.services.errors import Expired, Forbidden, Revoked, Unauthorized
from server.store.hot.steps import Steps, run_on_sqlalchemy
from server.store.schema import credentials, device_users, devices, users


@dataclass(frozen=True)
class Staff:
    user_id: str
    tenant_id: str
    role: str
    branch_id: str | None
    """A coordinator's branch (never None for one); None for an admin, who sees every branch."""
    credential_id: str | None = field(default=None, compare=False)
    """The token this staff member authenticated with (None when built in-process)."""
    expires_at_ms: int | None = field(default=None, compare=False)
    last_used_ms: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.role != "admin" and self.branch_id is None:
            raise ValueError("an office user other than an admin needs a branch")

    def may_see_branch(self, branch_id: str | None) -> bool:
        if self.role == "admin":
            return True
        return branch_id is not None and self.branch_id == branch_id

    def scope_branch(self, wanted: str | None = None) -> str | None:
        """The branch a listing is limited to: ``wanted`` if visible, a coordinator's own
        branch when none is wanted, None (every branch) for an admin only."""
        if wanted is not None:
            self.require_branch(wanted)
            return wanted
        return None if self.role == "admin" else self.branch_id

    def require_branch(self, branch_id: str) -> None:
        if not self.may_see_branch(branch_id):
            raise Forbidden("this branch is outside your access")

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden("admin role required")


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    tenant_id: str
    uuid: str | None
    carers: dict[str, str] = field(default_factory=dict)
    """carer id -> carer name, for every carer assigned to the device."""
    resync_requested: bool = False
    """The office asked for a clean sync this device has not done yet."""


_STAFF_BY_TOKEN = (
    "SELECT c.revoked_at, c.expires_at, u.id, u.tenant_id, u.role, u.branch_id, c.id, c.last_used_at"
    f" FROM {credentials.name} c JOIN {users.name} u ON u.id = c.user_id WHERE c.token_hash = ? AND c.kind = 'staff'"
)
"""A staff token's credential and user, in :class:`StaffRow`'s order."""


def staff_steps(token_hash: str, now_ms: int) -> Steps[Staff]:
    """The staff member holding the token, judged as on every route (raises if refused):
    the one definition, run by the REST and console checks and inside rota hot writes."""
    rows = yield (_STAFF_BY_TOKEN, (token_hash,))
    return staff_from_row(StaffRow(*rows[0]) if rows else None, now_ms)


async def authenticate_staff(conn: AsyncConnection, token: str, now_ms: int) -> Staff:
    return await run_on_sqlalchemy(conn, staff_steps(hash_token(token), now_ms))


@dataclass(frozen=True, slots=True)
class StaffRow:
    """A staff token's credential joined to its user, in the order ``authenticate_staff`` reads them."""

    revoked_at: int | None
    expires_at: int | None
    id: str
    tenant_id: str
    role: str
    branch_id: str | None
    credential_id: str
    last_used_at: int | None


def staff_from_row(row: StaffRow | None, now_ms: int) -> Staff:
    """The staff member a token's row names, or why the token is refused (raised)."""
    if row is None:
        raise Unauthorized("unknown staff token")
    if row.revoked_at is not None:
        raise Revoked("staff token revoked")
    if row.expires_at is not None and row.expires_at <= now_ms:
        raise Expired("staff token expired; sign in again")
    if row.role not in ("admin", "coordinator"):
        raise Forbidden("not an office user")
    if row.role != "admin" and row.branch_id is None:
        raise Forbidden("this coordinator has no branch; an admin must give them one")
    return Staff(
        user_id=row.id,
        tenant_id=row.tenant_id,
        role=row.role,
        branch_id=row.branch_id,
        credential_id=row.credential_id,
        expires_at_ms=row.expires_at,
        last_used_ms=row.last_used_at,
    )


def _devices_by(condition: ColumnElement[bool]) -> Select[Any]:
    """The device and its carers (one row per carer) for the credentials matching ``condition``."""
    return (
        select(
            credentials.c.token_hash,
            credentials.c.revoked_at,
            devices.c.id,
            devices.c.tenant_id,
            devices.c.uuid,
            devices.c.active,
            devices.c.deleted_at,
            devices.c.resync_requested_at,
            users.c.id.label("carer_id"),
            users.c.name.label("carer_name"),
        )
        .join(devices, devices.c.id == credentials.c.device_id)
        .outerjoin(device_users, device_users.c.device_id == devices.c.id)
        .outerjoin(
            users,
            and_(
                users.c.id == device_users.c.user_id, users.c.tenant_id == devices.c.tenant_id, users.c.role == "carer"
            ),
        )
        .where(condition, credentials.c.kind == "device")
        .order_by(users.c.id)
    )


_DEVICE_BY_TOKEN = _devices_by(credentials.c.token_hash == bindparam("token_hash"))
"""Built once: every connect that misses the identity cache runs it (or the next one)."""
_DEVICES_BY_TOKENS = _devices_by(credentials.c.token_hash.in_(bindparam("token_hashes", expanding=True)))
"""The same for the greetings of a reconnect wave, read together (``server/ws/greeting_reads.py``)."""


async def authenticate_device(conn: AsyncConnection, token: str) -> DeviceIdentity:
    rows = (await conn.execute(_DEVICE_BY_TOKEN, {"token_hash": hash_token(token)})).all()
    return admitted(rows)


async def device_rows(conn: AsyncConnection, token_hashes: list[str]) -> dict[str, list[Row[Any]]]:
    """The rows of :func:`admitted` for several token hashes, in one statement."""
    found: dict[str, list[Row[Any]]] = {}
    for row in await conn.execute(_DEVICES_BY_TOKENS, {"token_hashes": token_hashes}):
        found.setdefault(row.token_hash, []).append(row)
    return found


def admitted(rows: Sequence[Row[Any]]) -> DeviceIdentity:
    """The device from its statement's rows (one per carer); raises if it may not connect."""
    if not rows:
        raise Unauthorized("unknown device token")
    row = rows[0]
    if row.revoked_at is not None or not row.active or row.deleted_at is not None:
        raise Revoked("device token revoked, or device deactivated or deleted")
    return DeviceIdentity(
        device_id=row.id,
        tenant_id=row.tenant_id,
        uuid=row.uuid,
        carers={r.carer_id: r.carer_name for r in rows if r.carer_id is not None},
        resync_requested=row.resync_requested_at is not None,
    )


IDENTITY_CACHE_SIZE = 20_000
"""Device identities one node keeps (least recently used dropped first): above the
devices a node is sized to hold, so a reconnect wave finds every one it saw."""


@dataclass(frozen=True, slots=True)
class CachedIdentity:
    identity: DeviceIdentity
    read_at_ms: int
    """When the read that produced it began: effects made after it may not be reflected."""


class IdentityCache:
    """Device identities by token hash, per node, so a device that connects again is
    admitted without a database round trip.

    The store stays the truth; an entry lives only while the node can vouch for it:

    - every device effect (revoke, rotate, deactivate, delete, re-enrolment, reassign,
      resync: ``server/services/device_effects.py``) drops the device's entries when this
      node sees it (:meth:`invalidate`, from the effect relay: the bus at once, the store
      poll within its interval);
    - an entry read before an effect but stored after the node saw it is not stored
      (:meth:`generation` is taken before the read, :meth:`store` compares);
    - entries are served only while the relay polls in time (:meth:`vouch`): if it fell
      behind (store outage, stalled loop) every greeting reads the store again;
    - an identity the office asked to clean-sync is not kept (a completed clean sync
      clears the request without an effect).
    """

    def __init__(self, max_entries: int = IDENTITY_CACHE_SIZE) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedIdentity] = OrderedDict()
        self._by_device: dict[str, set[str]] = {}
        self._generation = 0
        self._vouched_until_ms = -1

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int:
        """Take before reading an identity from the store; pass to :meth:`store`."""
        return self._generation

    def vouch(self, until_ms: int) -> None:
        """The effect relay is current: entries may be served until ``until_ms``."""
        self._vouched_until_ms = until_ms

    def get(self, token_hash: str, now_ms: int) -> CachedIdentity | None:
        if now_ms > self._vouched_until_ms:
            return None
        entry = self._entries.get(token_hash)
        if entry is not None:
            self._entries.move_to_end(token_hash)
        return entry

    def store(self, token_hash: str, identity: DeviceIdentity, read_at_ms: int, generation: int) -> None:
        if generation != self._generation or identity.resync_requested:
            return
        self._entries[token_hash] = CachedIdentity(identity, read_at_ms)
        self._entries.move_to_end(token_hash)
        self._by_device.setdefault(identity.device_id, set()).add(token_hash)
        while len(self._entries) > self.max_entries:
            old_hash, old = self._entries.popitem(last=False)
            self._unindex(old.identity.device_id, old_hash)

    def holds(self, device_id: str) -> bool:
        return device_id in self._by_device

    def invalidate(self, device_id: str) -> None:
        """Forget every entry of the device (a device effect was seen)."""
        self._generation += 1
        for token_hash in self._by_device.pop(device_id, ()):
            self._entries.pop(token_hash, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._by_device.clear()

    def _unindex(self, device_id: str, token_hash: str) -> None:
        hashes = self._by_device.get(device_id)
        if hashes is not None:
            hashes.discard(token_hash)
            if not hashes:
                del self._by_device[device_id]
