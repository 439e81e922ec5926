"""Who migrates the schema: the node at start (``--migrate auto``) or a job before it (``off``).

With ``auto`` (the default) a starting node brings the schema to its release's head, as it
always did. With ``off`` it never changes the schema: it starts when the database is at
its release's head and refuses when the schema is behind it or missing, with exit status
:data:`EXIT_SCHEMA_NOT_CURRENT` and a line naming ``caresync migrate`` (the compose
file's one-shot ``migrate`` service).

A schema at a revision this release does not know was migrated by a newer release. Under
either policy the node starts on it and logs a warning: migrations are written
expand/contract (docs/operations.md, "Migration policy"), so a release runs on the schema
of the next one, which is what lets a rolling upgrade keep old nodes serving after the
migrate job and lets a rollback start old nodes again without taking the schema down.
"""

from __future__ import annotations

import logging

from server.startup import StartupError
from server.store.database import Database
from server.store.revisions import SchemaState, schema_state

log = logging.getLogger("caresync.schema")

MIGRATE_POLICIES = ("auto", "off")

EXIT_SCHEMA_NOT_CURRENT = 4
"""``caresync serve --migrate off`` on a database whose schema is behind this release's head."""


class SchemaNotCurrent(StartupError):
    """The node may not migrate and the schema is behind its release's head."""


async def read_schema_state(db: Database) -> SchemaState:
    async with db.read() as conn:
        return await conn.run_sync(schema_state)


async def require_current_schema(db: Database) -> SchemaState:
    """Raise :class:`SchemaNotCurrent` when the schema is missing or behind this release's head."""
    state = await read_schema_state(db)
    if state.known and not state.at_head:
        raise SchemaNotCurrent(
            f"--migrate off: {state.describe()}; run `caresync migrate` (the migrate job) first, "
            "or start with --migrate auto"
        )
    return state


async def apply_migrate_policy(db: Database, policy: str) -> None:
    """Migrate (``auto``) or check that nothing needs migrating (``off``)."""
    state = await require_current_schema(db) if policy == "off" else await read_schema_state(db)
    if not state.known:
        log.warning("%s; starting on it (expand/contract: see docs/operations.md)", state.describe())
        return
    if policy == "auto":
        await db.migrate()


async def check_schema(database_url: str) -> None:
    """Before serving with ``--migrate off``: raise :class:`SchemaNotCurrent` as the node would."""
    db = Database(database_url)
    try:
        await require_current_schema(db)
    finally:
        await db.close()
