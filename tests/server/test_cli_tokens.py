"""``caresync tokens create|list|revoke`` against a database, no server running."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main


def _values(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_tokens_are_created_listed_and_revoked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}"]
    assert main(["tenant", "Sunrise", *db]) == 0
    tenant = _values(capsys.readouterr().out)
    scope = ["--tenant", tenant["tenant_id"], tenant["admin_user_id"], *db]

    assert main(["tokens", "create", *scope, "--name", "rota import", "--days", "7"]) == 0
    made = _values(capsys.readouterr().out)
    assert made["token"].startswith("cst_") and made["expires_at"] != "-"

    assert main(["tokens", "list", *scope]) == 0
    listed = capsys.readouterr().out
    assert "rota import" in listed and "initial admin token" in listed
    assert made["token"] not in listed

    assert main(["tokens", "revoke", *scope, made["token_id"]]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["tokens", "list", *scope]) == 0
    assert "rota import" not in capsys.readouterr().out
    assert main(["tokens", "list", *scope, "--all"]) == 0
    assert "rota import" in capsys.readouterr().out

    assert main(["tokens", "revoke", *scope, "no-such-token"]) == 1
    assert "not found" in capsys.readouterr().err
