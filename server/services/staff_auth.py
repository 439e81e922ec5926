"""Office staff sign-in: passwords (scrypt) exchanged for expiring bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update

from server.clock import Clock
from server.ids import hash_token, new_id, new_token
from server.passwords import hash_password, verify_password
from server.services.errors import InvalidInput, NotFound, Unauthorized
from server.store.database import Database
from server.store.schema import credentials, users

OFFICE_ROLES = ("admin", "coordinator")
STAFF_TOKEN_TTL_S = 12 * 3600
"""A working shift: staff sign in again after 12 hours."""


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
    def __init__(self, db: Database, clock: Clock, ttl_s: int = STAFF_TOKEN_TTL_S) -> None:
        self.db = db
        self.clock = clock
        self.ttl_s = ttl_s

    async def set_password(self, tenant_id: str, user_id: str, login: str, password: str) -> None:
        if len(password) < 10:
            raise InvalidInput("a password has at least 10 characters")
        login = login.strip().lower()
        if not login or len(login) > 200:
            raise InvalidInput("login must be 1 to 200 characters")
        async with self.db.write() as conn:
            taken = (
                await conn.execute(select(users.c.id).where(users.c.login == login, users.c.id != user_id))
            ).first()
            if taken is not None:
                raise InvalidInput(f"login {login} is taken")
            result = await conn.execute(
                update(users)
                .where(
                    users.c.id == user_id, users.c.tenant_id == tenant_id, users.c.role.in_(["admin", "coordinator"])
                )
                .values(login=login, password_hash=hash_password(password))
            )
            if result.rowcount == 0:
                raise NotFound(f"office user {user_id} not found")

    async def sign_in(self, login: str, password: str) -> SignedIn:
        """A fresh token for valid credentials; one vague error otherwise (no user probing)."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(users).where(users.c.login == login.strip().lower()))).first()
        if row is None or row.password_hash is None or not verify_password(password, row.password_hash):
            raise Unauthorized("wrong login or password")
        now = self.clock.now_ms()
        expires = now + self.ttl_s * 1000
        token = new_token("cst")
        async with self.db.write() as conn:
            await conn.execute(
                insert(credentials).values(
                    id=new_id(),
                    tenant_id=row.tenant_id,
                    kind="staff",
                    token_hash=hash_token(token),
                    user_id=row.id,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return SignedIn(token, expires, row.id, row.tenant_id, row.role, row.branch_id, row.name)

    async def sign_out(self, token: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(credentials)
                .where(credentials.c.token_hash == hash_token(token), credentials.c.revoked_at.is_(None))
                .values(revoked_at=self.clock.now_ms())
            )
