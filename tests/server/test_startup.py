"""Start-up checks: a URL caresync cannot serve is one clear line before anything starts."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from server.cli import main
from server.startup import StartupError, preflight


def test_an_unsupported_database_scheme_is_named_before_any_driver_is_loaded() -> None:
    with pytest.raises(StartupError) as refused:
        asyncio.run(preflight("mysql://root@127.0.0.1/caresync", None))
    assert str(refused.value) == "unsupported database URL scheme 'mysql'; use sqlite:// or postgresql://"


def test_serve_refuses_an_unsupported_database_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--database-url", "mysql+pymysql://root@127.0.0.1/caresync"]) == 2
    assert capsys.readouterr().err.strip() == (
        "caresync: unsupported database URL scheme 'mysql'; use sqlite:// or postgresql://"
    )


def test_serve_on_a_busy_port_stops_before_touching_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "never.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", f"sqlite:///{database}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (
        f"caresync: port {port} on 127.0.0.1 is in use (another server?); choose another with --port (or CARESYNC_PORT)"
    )
    assert not database.exists()
