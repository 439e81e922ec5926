"""Staff bearer tokens: sign-in sessions and named API tokens, listed and revoked.

Every staff token is a ``credentials`` row of kind ``staff``: a SHA-256 digest of the
token, its name (``sign-in`` for a console or API sign-in), an optional expiry and the
time it was last used (recorded at most once a minute). Revoking one, or all of a user's
(sign-out, password change), rings the user's control channel on the bus, so whichever
node holds their ``/ws/console`` sockets re-checks them and closes those that lost their
token (close 4106).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from server.bus.base import Bus, staff_control_channel
from server.clock import Clock
from server.ids import hash_token, new_id, new_token
from server.services.errors import InvalidInput, NotFound
from server.store.database import Database
from server.store.schema import credentials, users
from server.tunables import API_TOKEN_LAST_USED_GRANULARITY_MS as LAST_USED_GRANULARITY_MS
from server.tunables import API_TOKEN_MAX_TTL_S

SIGN_IN_TOKEN_NAME = "sign-in"
RECHECK = b"recheck"


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str
    expires_at_ms: int | None


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user_id: str
    name: str
    created_at_ms: int
    expires_at_ms: int | None
    last_used_at_ms: int | None
    revoked_at_ms: int | None


class StaffTokens:
    def __init__(self, db: Database, clock: Clock, bus: Bus | None = None) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus

    async def issue(self, tenant_id: str, user_id: str, name: str, ttl_s: int | None) -> IssuedToken:
        """A named API token for an office user; ``ttl_s`` None: it never expires."""
        name = checked_name(name)
        if ttl_s is not None and not 60 <= ttl_s <= API_TOKEN_MAX_TTL_S:
            raise InvalidInput.about("ttl_s", f"must be 60 to {API_TOKEN_MAX_TTL_S} seconds, or absent (no expiry)")
        async with self.db.write() as conn:
            await require_office_user(conn, tenant_id, user_id)
            return await insert_token(conn, tenant_id, user_id, name, self.clock.now_ms(), ttl_s)

    async def list(self, tenant_id: str, user_id: str, *, include_inactive: bool = False) -> list[TokenInfo]:
        """The user's tokens, newest first; by default only those still usable."""
        now = self.clock.now_ms()
        query = select(credentials).where(
            credentials.c.tenant_id == tenant_id, credentials.c.kind == "staff", credentials.c.user_id == user_id
        )
        if not include_inactive:
            query = query.where(
                credentials.c.revoked_at.is_(None),
                or_(credentials.c.expires_at.is_(None), credentials.c.expires_at > now),
            )
        async with self.db.read() as conn:
            await require_office_user(conn, tenant_id, user_id)
            rows = await conn.execute(query.order_by(credentials.c.created_at.desc(), credentials.c.id))
            return [_info(r) for r in rows]

    async def revoke(self, tenant_id: str, user_id: str, token_id: str) -> TokenInfo:
        """Revoke one token of the user (already revoked: unchanged)."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            mine = and_(
                credentials.c.id == token_id,
                credentials.c.tenant_id == tenant_id,
                credentials.c.user_id == user_id,
                credentials.c.kind == "staff",
            )
            await conn.execute(
                update(credentials).where(mine, credentials.c.revoked_at.is_(None)).values(revoked_at=now)
            )
            row = (await conn.execute(select(credentials).where(mine))).first()
        if row is None:
            raise NotFound(f"token {token_id} not found")
        await self.notify(user_id)
        return _info(row)

    async def revoke_by_value(self, token: str) -> None:
        """Sign-out: revoke the token presented."""
        live = and_(credentials.c.token_hash == hash_token(token), credentials.c.revoked_at.is_(None))
        async with self.db.write() as conn:
            row = (await conn.execute(select(credentials.c.user_id).where(live))).first()
            await conn.execute(update(credentials).where(live).values(revoked_at=self.clock.now_ms()))
        if row is not None and row.user_id is not None:
            await self.notify(row.user_id)

    async def notify(self, user_id: str) -> None:
        """Tell every node to re-check this user's console sockets now."""
        if self.bus is not None:
            await self.bus.publish(staff_control_channel(user_id), RECHECK)

    async def note_use(self, credential_id: str, last_used_ms: int | None) -> None:
        """Record that a token was used, unless that was recorded under a minute ago."""
        now = self.clock.now_ms()
        if last_used_ms is not None and now - last_used_ms < LAST_USED_GRANULARITY_MS:
            return
        async with self.db.write() as conn:
            await conn.execute(update(credentials).where(credentials.c.id == credential_id).values(last_used_at=now))


def checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a token name is 1 to 100 characters")
    return name


async def insert_token(
    conn: AsyncConnection, tenant_id: str, user_id: str, name: str, now: int, ttl_s: int | None
) -> IssuedToken:
    token, token_id = new_token("cst"), new_id()
    expires = None if ttl_s is None else now + ttl_s * 1000
    await conn.execute(
        insert(credentials).values(
            id=token_id,
            tenant_id=tenant_id,
            kind="staff",
            token_hash=hash_token(token),
            user_id=user_id,
            created_at=now,
            expires_at=expires,
            name=name,
        )
    )
    return IssuedToken(token_id, token, expires)


async def revoke_all(conn: AsyncConnection, user_id: str, now: int) -> int:
    """Revoke every token of a staff user, sign-ins and API tokens alike (inside the
    caller's transaction): after a password change nothing issued before it works."""
    result = await conn.execute(
        update(credentials)
        .where(credentials.c.user_id == user_id, credentials.c.kind == "staff", credentials.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


async def require_office_user(conn: AsyncConnection, tenant_id: str, user_id: str) -> None:
    row = (
        await conn.execute(select(users.c.role).where(users.c.id == user_id, users.c.tenant_id == tenant_id))
    ).first()
    if row is None or row.role not in ("admin", "coordinator"):
        raise NotFound(f"office user {user_id} not found")


def _info(r: Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=r.id,
        user_id=r.user_id,
        name=r.name or SIGN_IN_TOKEN_NAME,
        created_at_ms=r.created_at,
        expires_at_ms=r.expires_at,
        last_used_at_ms=r.last_used_at,
        revoked_at_ms=r.revoked_at,
    )
