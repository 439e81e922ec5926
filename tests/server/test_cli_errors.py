"""A refusal names the flag the user typed, not the REST field behind it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from server.cli import main


@pytest.fixture
def tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CARESYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["tenant", "Sunrise"]) == 0
    return dict(line.split("=", 1) for line in capsys.readouterr().out.split())["tenant_id"]


def _refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 1
    return capsys.readouterr().err.strip()


def test_a_coordinator_without_a_branch_names_branch(tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    said = _refusal(capsys, "users", "create", "Dana", "--role", "coordinator", "--tenant", tenant)
    assert said.startswith("error: --branch ")
    assert "branch_id" not in said


def test_a_device_for_someone_not_a_carer_names_carer(tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    uuid = "6f1c9a52-1b2c-4d5e-8f90-123456789abc"
    said = _refusal(capsys, "device-token", "--tenant", tenant, "--uuid", uuid, "--name", "N", "--carer", "nobody")
    assert said.startswith("error: --carer ")


def test_an_empty_login_names_login(
    tenant: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["users", "create", "Ada", "--role", "admin", "--tenant", tenant]) == 0
    user = capsys.readouterr().out.strip()
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    said = _refusal(capsys, "passwords", "set", user, "--tenant", tenant, "--login", " ", "--password-stdin")
    assert said.startswith("error: --login must be 1 to ")


@pytest.mark.parametrize("days", ["0", "-1", "401", "soon"])
def test_days_out_of_range_names_days(days: str, tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tokens", "create", "U", "--tenant", tenant, "--name", "import", "--days", days])
    assert exited.value.code == 2
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --days:" in said
    assert "ttl_s" not in said
