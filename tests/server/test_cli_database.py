"""The database a CLI command works on: a supported URL scheme, and an existing file for
every command but the ones that set up an install."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main


def test_a_command_refuses_a_sqlite_file_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    code = main(["branches", "list", "--tenant", "T", "--database-url", f"sqlite:///{missing}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert str(missing) in err
    assert "--database-url" in err
    assert "CARESYNC_DATABASE_URL" in err
    assert not missing.exists()


def test_tenant_sets_up_a_new_database(tmp_path: Path) -> None:
    created = tmp_path / "new.db"
    assert main(["tenant", "Sunrise", "--database-url", f"sqlite:///{created}"]) == 0
    assert created.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["branches", "list", "--tenant", "T"],
        ["tokens", "list", "U", "--tenant", "T"],
        ["devices", "report", "--tenant", "T"],
        ["feed", "reset", "C", "--tenant", "T"],
        ["device-token", "--tenant", "T", "--uuid", "U", "--name", "N", "--carer", "C"],
        ["tenant", "Sunrise"],
        ["migrate"],
    ],
)
def test_an_unsupported_scheme_is_one_clear_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*argv, "--database-url", "mysql://root@127.0.0.1/caresync"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "caresync: unsupported database URL scheme 'mysql'; use sqlite:// or postgresql://"
