from __future__ import annotations

from pathlib import Path

import pytest

from tests.sdk_typescript.package import built_package


@pytest.fixture(scope="session")
def typescript_dist() -> Path:
    return built_package()
