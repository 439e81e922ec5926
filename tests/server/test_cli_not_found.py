"""Every command given a tenant that does not exist says so and exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["branches", "list", "--tenant", "nope"],
        ["branches", "create", "North", "--tenant", "nope"],
        ["users", "list", "--tenant", "nope"],
        ["users", "create", "Dana", "--role", "carer", "--tenant", "nope"],
        ["tokens", "list", "U", "--tenant", "nope"],
        ["devices", "report", "--tenant", "nope"],
        ["feed", "reset", "C", "--tenant", "nope"],
        [
            "device-token",
            "--tenant",
            "nope",
            "--uuid",
            "6f1c9a52-1b2c-4d5e-8f90-123456789abc",
            "--name",
            "N",
            "--carer",
            "C",
        ],
    ],
)
def test_an_unknown_tenant_is_an_error(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["tenant", "Sunrise", "--database-url", url]) == 0
    capsys.readouterr()
    code = main([*argv, "--database-url", url])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error: tenant nope not found")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["devices", "report", "--branch", "nope"], "error: branch nope not found"),
        (["devices", "report", "--user", "nope"], "error: carer nope not found"),
        (["tokens", "list", "nope"], "error: office user nope not found"),
    ],
)
def test_an_unknown_id_in_a_tenant_is_an_error_and_prints_nothing_else(
    argv: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["tenant", "Sunrise", "--database-url", url]) == 0
    tenant = dict(line.split("=", 1) for line in capsys.readouterr().out.split())["tenant_id"]
    assert main([*argv, "--tenant", tenant, "--database-url", url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == said
