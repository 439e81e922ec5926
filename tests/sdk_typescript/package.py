"""The TypeScript SDK's package, built on demand so that a targeted pytest run works too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "sdk" / "typescript"
DIST = PACKAGE / "dist"
ADAPTER = DIST / "conformance" / "adapter.js"


def built_package() -> Path:
    """``sdk/typescript/dist``, after ``npm ci && npm run build`` if it is missing; skips without Node."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("no node/npm on PATH: install Node 20 (CI installs it)")
    if not ADAPTER.exists():
        if not (PACKAGE / "node_modules" / "typescript").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True)
        subprocess.run([npm, "run", "build"], cwd=PACKAGE, check=True)
    return DIST
