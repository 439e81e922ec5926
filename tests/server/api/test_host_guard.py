"""A request for a host the node does not answer to is refused with the setting that allows it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from server.app import create_app
from server.node import Node
from server.settings import Settings


def _get(tmp_path: Path, host: str) -> httpx.Response:
    app = create_app(Node.build(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as client:
            return await client.get("/api/v1/openapi.json")

    return asyncio.run(get())


def test_a_refused_host_names_the_setting_that_allows_it(tmp_path: Path) -> None:
    refused = _get(tmp_path, "caresync.agency.example")
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/plain")
    assert "CARESYNC_ALLOWED_HOSTS" in refused.text
    assert "--allowed-hosts" in refused.text


def test_an_allowed_host_is_served(tmp_path: Path) -> None:
    assert _get(tmp_path, "localhost").status_code == 200
