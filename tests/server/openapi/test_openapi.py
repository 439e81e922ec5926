"""The OpenAPI document describes every REST route, and a schemathesis run against a live
server, on SQLite and on PostgreSQL, finds no 500 and no answer that does not match its
schema."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from loadtest.server_process import SpawnedServer
from server.app import create_app
from server.node import Node
from server.openapi.document import OPERATIONS, document
from server.seeding import seed_agency
from server.settings import Settings
from tests.conftest import RunningServer

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_every_api_route_is_described_and_nothing_else(tmp_path: Path) -> None:
    app = create_app(Node.build(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")))
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        and route.path.startswith("/api/v1/")
        and route.path not in ("/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/docs.css")
        for method in (route.methods or set()) - {"HEAD"}
    }
    described = {(operation.method, operation.path) for operation in OPERATIONS}
    assert served == described


def test_the_document_is_openapi_3_1_with_an_error_body_on_every_operation() -> None:
    spec = document()
    assert spec["openapi"] == "3.1.0"
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }, (method, path)


async def test_served_and_unknown_paths_answer_json(running: RunningServer) -> None:
    async with running.http() as http:
        served = await http.get("/api/v1/openapi.json")
        assert served.status_code == 200
        assert served.json()["paths"].keys() == document()["paths"].keys()
        for response, status, code in (
            (await http.get("/api/v1/nothing-here"), 404, "not_found"),
            (await http.get("/no/such/page"), 404, "not_found"),
            (await http.delete("/api/v1/visits"), 405, "method_not_allowed"),
            (await http.get("/api/v1/visits/unknown"), 401, "unauthorized"),
        ):
            assert response.status_code == status
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"]["code"] == code, response.text


def _schemathesis(
    base_url: str, token: str, workdir: Path, *selection: str, examples: int
) -> subprocess.CompletedProcess[str]:
    """One bounded run (``examples`` cases per operation, a fixed seed): about half a minute."""
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--workers",
        "1",
        "--seed",
        "20261128",
        "--generation-database",
        "none",
        "--no-color",
        *selection,
    ]
    # Run in the test's folder: schemathesis keeps a cache folder where it runs.
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ}, cwd=workdir)


@pytest.mark.e2e
async def test_schemathesis_finds_no_server_error_and_no_answer_off_schema(tmp_path: Path, database_url: str) -> None:
    """On each store: PostgreSQL refuses what SQLite stores (U+0000 in text, for one), so
    an input check missing on one path shows only there."""
    if not SCHEMATHESIS.exists() and shutil.which("schemathesis") is None:
        pytest.fail("schemathesis is a development dependency: pip install -e '.[dev]'")
    url = database_url
    seeder = Node.build(Settings(database_url=url))
    await seeder.db.migrate()
    agency = await seed_agency(seeder, carers=2)
    await seeder.db.close()
    server = SpawnedServer(url, tmp_path / "serve.log", pin=False)
    await server.start()
    try:
        office = await asyncio.to_thread(
            _schemathesis,
            server.base_url,
            agency.admin_token,
            tmp_path,
            # Signing out would end the run's own session; everything else is fair game.
            "--exclude-path",
            "/api/v1/auth/sign-out",
            "--exclude-path-regex",
            "^/api/v1/device/",
            examples=15,
        )
        assert office.returncode == 0, office.stdout[-6000:] + office.stderr[-2000:]
        device = await asyncio.to_thread(
            _schemathesis,
            server.base_url,
            agency.carers[0].device_token,
            tmp_path,
            "--include-path-regex",
            "^/api/v1/device/",
            examples=25,
        )
        assert device.returncode == 0, device.stdout[-6000:] + device.stderr[-2000:]
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get("/livez")).status_code == 200
    finally:
        server.stop()
