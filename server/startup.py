"""Start-up checks that turn an unreachable or malformed URL into one clear line."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text

from server.store.database import Database


class StartupError(Exception):
    """Raised when the node cannot start; ``str()`` is the one line to show."""


def redacted(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


async def check_database(db: Database, url: str, timeout_s: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout_s), db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StartupError(f"cannot reach the database at {redacted(url)}: {reason}") from exc


async def check_redis(url: str, timeout_s: float = 5.0) -> None:
    from redis.asyncio import Redis

    try:
        client: Redis = Redis.from_url(url, socket_connect_timeout=timeout_s)
    except ValueError as exc:
        raise StartupError(f"invalid Redis URL {redacted(url)}: {exc}") from exc
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except Exception as exc:
        raise StartupError(f"cannot reach Redis at {redacted(url)}: {exc}") from exc
    finally:
        await client.aclose()


async def preflight(database_url: str, redis_url: str | None) -> None:
    """Check every configured service before serving; raise :class:`StartupError`."""
    try:
        db = Database(database_url)
    except Exception as exc:
        raise StartupError(f"invalid database URL {redacted(database_url)}: {exc}") from exc
    try:
        await check_database(db, database_url)
    finally:
        await db.close()
    if redis_url:
        await check_redis(redis_url)
