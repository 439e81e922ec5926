"""Where a database's schema stands against this release's migrations, and going down.

A database is at one Alembic revision (``alembic_version``), none when it has no schema
yet. This release knows the revisions in ``migrations/versions``; its newest is the head.
A database may be at a revision this release does not know: a newer release migrated it.

Going down runs each revision's ``downgrade()`` from the current one to the one asked
for, in one transaction. A revision that must not be undone says so with a module-level
``irreversible = "why"``; a downgrade that fails on the data (a unique constraint the
older schema had and today's rows break) raises, and the transaction rolls back whole.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from alembic import command
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from server.store.migrate import alembic_config, upgrade_to_head

T = TypeVar("T")


class SchemaChangeFailed(Exception):
    """A migration could not be made and nothing was changed; ``str()`` says why in one line."""


class DowngradeRefused(SchemaChangeFailed):
    """The downgrade asked for cannot run; ``str()`` says why in one line."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    """The database's revision; None when it has no schema."""
    head: str
    """This release's newest revision."""
    known: bool
    """Whether this release has the database's revision (False for a newer release's)."""

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.current is None:
            return f"the database has no schema yet (this release's head is {self.head})"
        if self.at_head:
            return f"the schema is at {self.head}, this release's head"
        if not self.known:
            return (
                f"the schema is at {self.current}, a revision this release does not know (a newer release "
                f"migrated it; this release's head is {self.head})"
            )
        return f"the schema is at {self.current}, behind this release's head {self.head}"


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def revisions() -> list[str]:
    """This release's revisions, oldest first (one line of history: the last is the head)."""
    return list(_revisions())


@functools.cache
def _revisions() -> tuple[str, ...]:
    """Read once per process: loading the scripts costs about 10 ms, and every node start asks."""
    return tuple(script.revision for script in reversed(list(scripts().walk_revisions())))


def schema_state(connection: Connection) -> SchemaState:
    """The database's revision against this release's head (run with ``run_sync``)."""
    current = MigrationContext.configure(connection).get_current_revision()
    known = revisions()
    return SchemaState(current=current, head=known[-1], known=current is None or current in known)


def downgrade_steps(current: str | None, target: str) -> list[Script]:
    """The revisions undone to go from ``current`` down to ``target``, newest first; raise
    :class:`DowngradeRefused` when that is not a downgrade this release can run."""
    known = revisions()
    if target not in known:
        if target in ("base", "-1") or target.startswith(("-", "+")):
            raise DowngradeRefused(
                f"--to needs a revision name ({', '.join(known)}); to drop the whole schema, drop the database"
            )
        raise DowngradeRefused(f"unknown revision {target!r}; this release knows {', '.join(known)}")
    if current is None:
        raise DowngradeRefused("the database has no schema: nothing to take down")
    if current not in known:
        raise DowngradeRefused(
            f"the schema is at {current}, a revision this release does not know: run the downgrade with the "
            "release that migrated it"
        )
    if known.index(target) > known.index(current):
        raise DowngradeRefused(
            f"the schema is at {current}, below {target}: --to only goes down (`caresync migrate` without --to "
            "goes up to the head)"
        )
    directory = scripts()
    steps = [directory.get_revision(revision) for revision in reversed(known[known.index(target) + 1 :])]
    steps = [step for step in steps if step is not None and known.index(step.revision) <= known.index(current)]
    for step in steps:
        reason = getattr(step.module, "irreversible", None)
        if reason:
            raise DowngradeRefused(f"revision {step.revision} cannot be undone: {reason}")
    return steps


def without_foreign_keys(connection: Connection, change: Callable[[Connection], T]) -> T:
    """Run a schema change on SQLite in one ``BEGIN IMMEDIATE`` transaction with foreign keys
    off, as Alembic's batch mode needs (it copies each table it alters and drops the old one,
    which the tables pointing at it would otherwise forbid once they hold rows), checked once
    before commit: a row the new schema cannot hold rolls it all back (:class:`SchemaChangeFailed`)."""
    raw = connection.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")  # outside the transaction, where SQLite takes it
    try:
        with connection.execution_options(sqlite_begin="IMMEDIATE").begin():
            result = change(connection)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaChangeFailed(f"the data breaks a foreign key of the new schema (table {broken[0][0]})")
    finally:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
    return result


def upgrade_sqlite(connection: Connection) -> None:
    """:func:`~server.store.migrate.upgrade_to_head` on SQLite (see :func:`without_foreign_keys`)."""
    without_foreign_keys(connection, upgrade_to_head)


def downgrade_sqlite(connection: Connection, target: str) -> list[str]:
    """:func:`downgrade_to` on SQLite (see :func:`without_foreign_keys`)."""
    return without_foreign_keys(connection, lambda conn: downgrade_to(conn, target))


def downgrade_to(connection: Connection, target: str) -> list[str]:
    """Take the schema down to ``target`` (run with ``run_sync`` in a write transaction);
    the revisions undone, newest first."""
    current = MigrationContext.configure(connection).get_current_revision()
    steps = downgrade_steps(current, target)
    try:
        command.downgrade(alembic_config(connection), target)
    except CommandError as exc:
        raise DowngradeRefused(str(exc)) from exc
    return [step.revision for step in steps]
