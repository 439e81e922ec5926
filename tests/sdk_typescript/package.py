"""The TypeScript SDK's package, built on demand so that a targeted pytest run works too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.backing import require_or_skip

PACKAGE = Path(__file__).parents[2] / "sdk" / "typescript"
DIST = PACKAGE / "dist"
ADAPTER = DIST / "conformance" / "adapter.js"


def built_package() -> Path:
    """``sdk/typescript/dist``, after ``npm ci && npm run build`` if it is missing; skips without
    Node (fails instead under ``CARESYNC_REQUIRE_SERVICES=1``, as CI runs)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        require_or_skip("no node/npm on PATH: install Node 20 or later")
    if not ADAPTER.exists():
        if not (PACKAGE / "node_modules" / "typescript").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True)
        subprocess.run([npm, "run", "build"], cwd=PACKAGE, check=True)
    return DIST
