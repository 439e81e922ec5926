"""A first install from the command line: branch, office user, password, sign-in."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from server.cli import main
from server.node import Node
from server.settings import Settings


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out.strip()


def test_branch_user_password_then_sign_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CARESYNC_DATABASE_URL", url)  # the commands read it like `serve` does
    tenant = dict(line.split("=", 1) for line in _run(capsys, "tenant", "Sunrise").split())["tenant_id"]
    branch = _run(capsys, "branches", "create", "--tenant", tenant, "North office")
    assert _run(capsys, "branches", "list", "--tenant", tenant) == f"{branch}\tNorth office"
    user = _run(capsys, "users", "create", "--tenant", tenant, "Dana", "--role", "coordinator", "--branch", branch)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    out = _run(capsys, "passwords", "set", user, "--tenant", tenant, "--login", "dana@example.org", "--password-stdin")
    assert "dana@example.org" in out
    assert "correct horse" not in out
    listed = _run(capsys, "users", "list", "--tenant", tenant)
    assert f"{user}\tcoordinator\t{branch}\tdana@example.org\tDana" in listed.splitlines()
    assert _run(capsys, "users", "token", user, "--tenant", tenant).startswith("cst_")

    async def sign_in() -> str:
        node = Node.build(Settings(database_url=url))
        try:
            return (await node.staff_auth.sign_in("dana@example.org", "correct horse battery")).user_id
        finally:
            await node.db.close()

    assert asyncio.run(sign_in()) == user


def test_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    main(["tenant", "T", "--database-url", url])
    tenant = dict(line.split("=", 1) for line in capsys.readouterr().out.split())["tenant_id"]
    code = main(
        ["users", "create", "--database-url", url, "--tenant", tenant, "X", "--role", "carer", "--branch", "nope"]
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == "error: branch nope not found"


def test_a_password_without_a_terminal_points_at_password_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    main(["tenant", "T", "--database-url", url])
    tenant = dict(line.split("=", 1) for line in capsys.readouterr().out.split())["tenant_id"]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a pipe, a CI job: no terminal to ask on
    code = main(["passwords", "set", "U", "--database-url", url, "--tenant", tenant, "--login", "dana@example.org"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "--password-stdin" in err
