"""The fleet's chart libraries are an optional extra: without them, one clear line."""

from __future__ import annotations

import importlib.util

import pytest

from server.cli import main


def test_fleet_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["fleet", "--devices", "1"]) == 2
    assert "pip install 'caresync[fleet]'" in capsys.readouterr().err


def test_the_server_never_imports_the_chart_libraries() -> None:
    import subprocess
    import sys

    code = "import sys, server.app, server.cli, server.serving; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
