"""The command line refuses what the REST API refuses, with the same words: a tenant's
time zone and name, a branch's or user's name, and a tenant or branch that does not exist
(one validator behind both, ``server/services/office_input.py``), on both stores."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from server.cli import main
from server.node import Node
from server.services.errors import InvalidInput
from server.services.preferences import PreferenceChange, change_preferences
from server.settings import Settings
from server.store.schema import branches, tenants, users
from tests import backing

BAD_ZONES = ["Mars/Base", "", "../../etc/passwd", "Europe/London\x01", "x" * 300, "/etc/localtime"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cli.db"
        return
    admin = request.getfixturevalue("postgres_admin")
    manager = backing.fresh_postgres_database(admin)
    url = asyncio.run(manager.__aenter__())
    try:
        yield url
    finally:
        asyncio.run(manager.__aexit__(None, None, None))


def _count(url: str, table: object) -> int:
    async def run() -> int:
        node = Node.build(Settings(database_url=url))
        try:
            async with node.db.read() as conn:
                return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]
        finally:
            await node.db.close()

    return asyncio.run(run())


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 1, capsys.readouterr()
    captured = capsys.readouterr()
    assert captured.out == ""
    error = captured.err.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    return error.removeprefix("error: ")


def _rest_refusal(url: str, zone: str) -> str:
    """What the REST API's preference change says about ``zone`` (the same service call)."""

    async def run() -> str:
        node = Node.build(Settings(database_url=url))
        await node.db.migrate()
        try:
            created = await node.directory.create_tenant("Reference")
            with pytest.raises(InvalidInput) as refused:
                await change_preferences(node.db, node.bus, created.tenant_id, PreferenceChange(timezone=zone))
            return refused.value.message
        finally:
            await node.db.close()

    return asyncio.run(run())


def test_a_tenant_with_an_unknown_time_zone_is_refused_as_rest_refuses_it(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for zone in BAD_ZONES:
        said = _refused(capsys, "tenant", "Sunrise", "--timezone", zone, "--database-url", store)
        assert said == _rest_refusal(store, zone)
    assert _count(store, tenants) == len(BAD_ZONES)  # only the reference tenants
    assert main(["tenant", "Sunrise", "--timezone", "America/Argentina/Buenos_Aires", "--database-url", store]) == 0


def test_names_and_missing_parents_are_refused(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("", "   ", "x" * 201):
        assert "name" in _refused(capsys, "tenant", name, "--database-url", store)
    assert main(["tenant", "Sunrise", "--database-url", store]) == 0
    tenant = dict(line.split("=", 1) for line in capsys.readouterr().out.split())["tenant_id"]
    assert _refused(capsys, "branches", "create", "--tenant", "no-such-tenant", "North", "--database-url", store) == (
        "tenant no-such-tenant not found"
    )
    assert "name" in _refused(capsys, "branches", "create", "--tenant", tenant, "y" * 201, "--database-url", store)
    for role in ("admin", "carer"):
        assert _refused(
            capsys, "users", "create", "--tenant", "no-such-tenant", "Dana", "--role", role, "--database-url", store
        ) == ("tenant no-such-tenant not found")
    assert "name" in _refused(
        capsys, "users", "create", "--tenant", tenant, "", "--role", "admin", "--database-url", store
    )
    assert _count(store, branches) == 0
    assert _count(store, users) == 1  # the tenant's first admin
