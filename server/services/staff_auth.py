"""Office staff sign-in: passwords (argon2id) exchanged for expiring bearer tokens.

Sign-in is throttled per client address and per login before any password work is done
(:mod:`server.services.throttle`); a login or password over its length is refused before
it is used as a key, counted against its address only. Hashing runs in worker threads, a few at a time, so a
flood of sign-ins never stalls the event loop that pushes to phones. An unknown login
costs the same hash as a known one. Logins are unique within a tenant only: a sign-in
may name its tenant, and without one it succeeds when the password matches exactly one
office user with that login (docs/security.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row

from server.bus.base import Bus
from server.clock import Clock
from server.passwords import hash_password, needs_rehash, verify_decoy, verify_password
from server.services.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from server.services.staff_tokens import SIGN_IN_TOKEN_NAME, StaffTokens, insert_token, revoke_all
from server.services.throttle import SignInThrottle, StoreBounds
from server.store.database import Database
from server.store.schema import users
from server.tunables import STAFF_TOKEN_TTL_S

if TYPE_CHECKING:
    from server.services.shared_limits import SharedLimits

OFFICE_ROLES = ("admin", "coordinator")
HASHING_AT_ONCE = 2
"""Password hashes computed at the same time on a node (each takes one core for ~50 ms)."""
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_LOGIN_LENGTH = 200
"""Characters of a login (after trimming and lower-casing), when set and when signing in."""
WRONG = "wrong login or password"


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at_ms: int
    user_id: str
    tenant_id: str
    role: str
    branch_id: str | None
    name: str


class StaffAuth:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ttl_s: int = STAFF_TOKEN_TTL_S,
        bus: Bus | None = None,
        throttle_bounds: StoreBounds | None = None,
        shared_limits: SharedLimits | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl_s = ttl_s
        self.tokens = StaffTokens(db, clock, bus)
        self.throttle = SignInThrottle(clock, throttle_bounds, shared_limits)
        self._hashing = asyncio.Semaphore(HASHING_AT_ONCE)

    async def _off_loop(self, work: Any, *args: str) -> Any:
        async with self._hashing:
            return await asyncio.to_thread(work, *args)

    async def set_password(self, tenant_id: str, user_id: str, login: str, password: str) -> None:
        """Set an office user's login and password. Every token they hold (sign-ins and API
        tokens) is revoked and their open console sockets close: a reset after a leak
        leaves the intruder nothing."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        login = normal_login(login)
        if not login or len(login) > MAX_LOGIN_LENGTH:
            raise InvalidInput.about("login", f"must be 1 to {MAX_LOGIN_LENGTH} characters")
        hashed = await self._off_loop(hash_password, password)
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(users).where(users.c.id == user_id, users.c.tenant_id == tenant_id))
            ).first()
            if row is None or row.role not in OFFICE_ROLES:
                raise NotFound(f"office user {user_id} not found")
            if row.role != "admin" and row.branch_id is None:
                raise InvalidInput("this coordinator has no branch; give them one first")
            taken = (
                await conn.execute(
                    select(users.c.id).where(
                        users.c.tenant_id == tenant_id, users.c.login == login, users.c.id != user_id
                    )
                )
            ).first()
            if taken is not None:
                raise InvalidInput(f"login {login} is taken in this agency")
            await conn.execute(update(users).where(users.c.id == user_id).values(login=login, password_hash=hashed))
            await revoke_all(conn, user_id, self.clock.now_ms())
        await self.tokens.notify(user_id)

    async def sign_in(self, login: str, password: str, *, client: str = "", tenant_id: str | None = None) -> SignedIn:
        """A fresh token for valid credentials; one vague error otherwise (no user probing).

        ``client`` is the caller's address (for the per-address limit); ``tenant_id``
        picks the agency when the same login exists in several. A login or password
        longer than any that can be set is refused (422) before the login is a key.
        """
        login = normal_login(login)
        refusal = over_length(login, password)
        await self.throttle.admit(client, None if refusal else login)
        if refusal:
            raise InvalidInput(refusal)
        query = select(users).where(users.c.login == login, users.c.role.in_(OFFICE_ROLES))
        if tenant_id is not None:
            query = query.where(users.c.tenant_id == tenant_id)
        async with self.db.read() as conn:
            candidates = [r for r in (await conn.execute(query.order_by(users.c.id))).all() if r.password_hash]
        matched = [r for r in candidates if await self._off_loop(verify_password, password, r.password_hash)]
        if not candidates:
            await self._off_loop(verify_decoy, password)  # the same work as a real login, off the loop too
        if len(matched) != 1:
            if matched:
                raise Unauthorized("this login is used by several agencies: sign in with your agency's tenant id")
            raise Unauthorized(WRONG)
        await self.throttle.succeeded(login)
        return await self._issue(matched[0], password)

    async def _issue(self, row: Row[Any], password: str) -> SignedIn:
        if row.role != "admin" and row.branch_id is None:
            raise Forbidden("this coordinator has no branch; an admin must give them one")
        rehashed = await self._off_loop(hash_password, password) if needs_rehash(row.password_hash) else None
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            if rehashed is not None:
                await conn.execute(
                    update(users)
                    .where(users.c.id == row.id, users.c.password_hash == row.password_hash)
                    .values(password_hash=rehashed)
                )
            issued = await insert_token(conn, row.tenant_id, row.id, SIGN_IN_TOKEN_NAME, now, self.ttl_s)
        assert issued.expires_at_ms is not None
        return SignedIn(issued.token, issued.expires_at_ms, row.id, row.tenant_id, row.role, row.branch_id, row.name)

    async def sign_out(self, token: str) -> None:
        """Revoke the token; the user's console sockets on that token close (4106)."""
        await self.tokens.revoke_by_value(token)


def normal_login(login: str) -> str:
    return login.strip().lower()


def over_length(login: str, password: str) -> str | None:
    """Why a sign-in's login or password cannot be anyone's (too long), or None."""
    if len(login) > MAX_LOGIN_LENGTH:
        return f"a login has at most {MAX_LOGIN_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None
