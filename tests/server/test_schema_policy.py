"""``--migrate off``: a node never changes the schema, and refuses one behind its release."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from server.cli import main
from server.node import Node
from server.schema_policy import EXIT_SCHEMA_NOT_CURRENT, SchemaNotCurrent, apply_migrate_policy
from server.store.database import Database
from server.store.revisions import revisions, schema_state
from tests.conftest import test_settings as settings_for

HEAD = revisions()[-1]
BEHIND = revisions()[-2]


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def _at(url: str, revision: str) -> None:
    """Write ``revision`` as the schema's (as a newer release's migrate job would)."""
    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    finally:
        await db.close()


async def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        async with db.read() as conn:
            return (await conn.run_sync(schema_state)).current
    finally:
        await db.close()


async def test_serve_refuses_a_schema_behind_its_release_and_names_the_migrate_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    assert await _cli("migrate", "--database-url", url) == 0
    assert await _cli("migrate", "--to", BEHIND, "--database-url", url) == 0
    capsys.readouterr()
    code = await _cli("serve", "--port", "0", "--migrate", "off", "--database-url", url)
    assert code == EXIT_SCHEMA_NOT_CURRENT == 4
    assert capsys.readouterr().err.strip() == (
        f"caresync: --migrate off: the schema is at {BEHIND}, behind this release's head {HEAD}; "
        "run `caresync migrate` (the migrate job) first, or start with --migrate auto"
    )
    assert await _revision(url) == BEHIND


async def test_the_refusal_is_a_json_record_when_json_is_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    code = await _cli("serve", "--port", "0", "--migrate", "off", "--log-format", "json", "--database-url", url)
    assert code == EXIT_SCHEMA_NOT_CURRENT
    record = json.loads(capsys.readouterr().err)
    assert record["level"] == "critical"
    assert record["message"].startswith("--migrate off: the database has no schema yet")


async def test_a_node_with_migrate_off_starts_on_its_head_and_not_behind_it(database_url: str, tmp_path: Path) -> None:
    assert await _cli("migrate", "--database-url", database_url) == 0
    node = Node.build(settings_for(tmp_path, database_url=database_url, migrate="off"))
    await node.start()
    await node.stop()
    await _at(database_url, BEHIND)
    behind = Node.build(settings_for(tmp_path, database_url=database_url, migrate="off"))
    with pytest.raises(SchemaNotCurrent, match=f"the schema is at {BEHIND}, behind"):
        await behind.start()
    await behind.db.close()
    assert await _revision(database_url) == BEHIND


async def test_auto_still_migrates_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    node = Node.build(settings_for(tmp_path, database_url=url))
    assert node.settings.migrate == "auto"
    await node.start()
    await node.stop()
    assert await _revision(url) == HEAD


@pytest.mark.parametrize("policy", ["auto", "off"])
async def test_a_schema_a_newer_release_migrated_is_started_on_with_a_warning(
    policy: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    assert await _cli("migrate", "--database-url", url) == 0
    await _at(url, "9999")
    db = Database(url)
    try:
        with caplog.at_level(logging.WARNING, logger="caresync.schema"):
            await apply_migrate_policy(db, policy)
    finally:
        await db.close()
    assert [r.getMessage() for r in caplog.records if r.name == "caresync.schema"] == [
        f"the schema is at 9999, a revision this release does not know (a newer release migrated it; this "
        f"release's head is {HEAD}); starting on it (expand/contract: see docs/operations.md)"
    ]
    assert await _revision(url) == "9999"
