"""Fixtures of the service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.clock import ManualClock, SystemClock
from server.node import Node
from tests.conftest import test_settings


@pytest.fixture
async def clocked_node(tmp_path: Path, database_url: str) -> AsyncIterator[Node]:
    """A started node on each store whose clock moves only when the test says."""
    clock = ManualClock(SystemClock().now_ms())
    built = Node.build(test_settings(tmp_path, database_url=database_url, mismatch_interval_s=0), clock=clock)
    await built.start()
    yield built
    await built.stop()
