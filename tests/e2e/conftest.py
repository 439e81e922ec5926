"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.node import Node
from tests.conftest import RunningServer, start_server, stop_server
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def quiet(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A node whose own periodic heads check does not run during the test."""
    started = await start_server(Node.build(settings_for(tmp_path, heartbeat_interval_s=600)))
    yield started
    await stop_server(started)
