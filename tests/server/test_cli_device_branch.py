"""caresync device-token: a device belongs to its carer's branch, or to the --branch given."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out.strip()


def test_device_token_takes_the_carers_branch_or_the_one_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.db"
    url = f"sqlite:///{db}"
    tenant = dict(line.split("=", 1) for line in _run(capsys, "tenant", "Sunrise", "--database-url", url).split())
    t = tenant["tenant_id"]
    north = _run(capsys, "branches", "create", "--database-url", url, "--tenant", t, "North")
    south = _run(capsys, "branches", "create", "--database-url", url, "--tenant", t, "South")
    carer = _run(
        capsys, "users", "create", "--database-url", url, "--tenant", t, "Amara", "--role", "carer", "--branch", north
    )
    common = ["device-token", "--database-url", url, "--tenant", t, "--carer", carer]
    derived = dict(
        line.split("=", 1)
        for line in _run(capsys, *common, "--uuid", "6f1c9a52-1b2c-4d5e-8f90-123456789abc", "--name", "a").split()
    )
    given = dict(
        line.split("=", 1)
        for line in _run(
            capsys, *common, "--uuid", "6f1c9a52-1b2c-4d5e-8f90-123456789abd", "--name", "b", "--branch", south
        ).split()
    )
    with sqlite3.connect(db) as conn:
        branch_of = dict(conn.execute("select id, branch_id from devices").fetchall())
    assert branch_of[derived["device_id"]] == north
    assert branch_of[given["device_id"]] == south

    assert main([*common, "--uuid", "6f1c9a52-1b2c-4d5e-8f90-123456789abe", "--name", "c", "--branch", "nowhere"]) == 1
    assert "branch nowhere not found" in capsys.readouterr().err
