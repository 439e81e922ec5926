"""Start-up checks: a URL caresync cannot serve is one clear line before anything starts."""

from __future__ import annotations

import asyncio

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
