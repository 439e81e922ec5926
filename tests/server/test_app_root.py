"""``GET /`` leads a browser to the office console."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from server.app import create_app
from server.node import Node
from server.settings import Settings


def test_the_root_redirects_to_the_console(tmp_path: Path) -> None:
    app = create_app(Node.build(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")))

    async def get_root() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/")

    response = asyncio.run(get_root())
    assert response.status_code == 307
    assert response.headers["location"] == "/console"


def test_a_trailing_slash_is_not_found_rather_than_redirected(tmp_path: Path) -> None:
    """``/api/v1/visits`` exists (POST), so Starlette would redirect ``/api/v1/visits/`` to
    it with an empty body; an API path answers the JSON 404 instead."""
    app = create_app(Node.build(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")))

    async def patch_slashed() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.patch("/api/v1/visits/", json={"notes": ""})

    response = asyncio.run(patch_slashed())
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"
