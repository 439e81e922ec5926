"""The database a ``caresync`` command works on.

Its URL must name a store caresync has (``sqlite://`` or ``postgresql://``). Only the
commands that set up an install (``serve``, ``migrate``, ``tenant``) may create a SQLite
file; every other command refuses one that does not exist, naming the path it would have
used and how to point it elsewhere, rather than leave an empty ``caresync.db`` wherever
it was run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from server.node import Node
from server.services.errors import NotFound
from server.settings import Settings, from_args
from server.startup import StartupError, check_database_scheme
from server.store.schema import tenants


class CommandError(Exception):
    """A command cannot run; ``str()`` is the one line to show (exit status 2)."""


def sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite://`` URL names, or None (another store, or in memory)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def command_settings(args: argparse.Namespace, *, may_create: bool = False) -> Settings:
    """The settings for a command, its database URL checked; raise :class:`CommandError`."""
    settings = from_args(args)
    try:
        check_database_scheme(settings.database_url)
    except StartupError as exc:
        raise CommandError(str(exc)) from exc
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists() and not may_create:
        raise CommandError(
            f"no database at {path.resolve()}; create one with `caresync migrate` or "
            "`caresync tenant`, or point --database-url (or CARESYNC_DATABASE_URL) at yours"
        )
    return settings


async def require_tenant(node: Node, tenant_id: str) -> None:
    """Raise :class:`NotFound` unless the tenant exists."""
    async with node.db.read() as conn:
        found = (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first()
    if found is None:
        raise NotFound(f"tenant {tenant_id} not found")
