"""TypeScript types generated from the served OpenAPI document (openapi-typescript) compile
with ``tsc --strict`` in a small client that uses them, including lines that must NOT
compile (a role, an error code or a visit status outside its set)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunningServer

PACKAGE = Path(__file__).parents[2] / "api" / "openapi_typescript"


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """openapi-typescript and typescript at the pinned versions (``npm ci`` from the lock)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to generate and compile the TypeScript types")
    folder = tmp_path_factory.mktemp("openapi-typescript")
    for name in ("package.json", "package-lock.json", "client.ts"):
        shutil.copy(PACKAGE / name, folder / name)
    _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], folder)
    return folder


async def test_generated_types_compile_strictly_in_a_client(running: RunningServer, toolchain: Path) -> None:
    async with running.http() as http:
        served = await http.get("/api/v1/openapi.json")
    assert served.status_code == 200
    (toolchain / "openapi.json").write_bytes(served.content)
    _run([str(toolchain / "node_modules/.bin/openapi-typescript"), "openapi.json", "-o", "api.d.ts"], toolchain)
    generated = (toolchain / "api.d.ts").read_text()
    empty = [line.strip() for line in generated.splitlines() if "Record<string, never>" in line]
    assert empty == ["export type webhooks = Record<string, never>;", "export type $defs = Record<string, never>;"], (
        "no schema is typed as an object that can hold nothing"
    )
    assert "[key: string]: unknown;" in generated, "a form's data takes any fields"
    assert "rescheduleVisit: {" in generated
    tsc = toolchain / "node_modules/.bin/tsc"
    flags = ["--strict", "--noEmit", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext"]
    _run([str(tsc), *flags, "client.ts"], toolchain)
