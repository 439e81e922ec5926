"""``caresync settings`` names each setting by its flag and environment variable."""

from __future__ import annotations

import pytest

from server.cli import main


def test_settings_are_shown_by_flag_and_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARESYNC_DATABASE_URL", "postgresql://u:hidden@h/db")
    assert main(["settings", "--port", "9001"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["flag", "environment", "value"]
    assert ["--port", "CARESYNC_PORT", "9001"] in rows
    assert ["--database-url", "CARESYNC_DATABASE_URL", "postgresql://u:***@h/db"] in rows
    assert ["--redis-url", "CARESYNC_REDIS_URL", "(unset)"] in rows
