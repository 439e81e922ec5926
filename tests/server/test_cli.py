from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main

COMMITTED_SCHEMA = Path(__file__).parents[2] / "docs" / "frames.schema.json"


def test_schema_command_prints_the_committed_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == COMMITTED_SCHEMA.read_text()


def test_tenant_then_device_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["tenant", "Sunrise", "--database-url", url]) == 0
    out = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    assert out["admin_token"].startswith("cst_")
    # A device needs carers of the tenant; an unknown carer is a clear error.
    code = main(
        [
            "device-token",
            "--database-url",
            url,
            "--tenant",
            out["tenant_id"],
            "--uuid",
            "6f1c9a52-1b2c-4d5e-8f90-123456789abc",
            "--name",
            "n",
            "--carer",
            "nobody",
        ]
    )
    assert code == 1
    assert capsys.readouterr().err.strip() == "error: --carer must all be carers of this tenant"


def test_unreachable_database_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--database-url", "postgresql://nobody@127.0.0.1:1/none", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("caresync: cannot reach the database at postgresql://nobody@127.0.0.1:1/none")
    assert "\n" not in err


def test_unreachable_redis_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["serve", "--database-url", url, "--redis-url", "redis://127.0.0.1:1/0", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("caresync: cannot reach Redis at redis://127.0.0.1:1/0")
    assert "\n" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "commands" in capsys.readouterr().out
