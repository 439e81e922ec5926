"""The request middleware counts what the client was answered, a handler's crash included."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.observability.requests import RequestIds


async def _crash(request: Request) -> Response:
    raise RuntimeError("the handler failed")


def _answered(route: str, status: str) -> float:
    labels = {"route": route, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("caresync_http_request_duration_seconds_count", labels) or 0.0


async def test_a_handler_that_raises_is_counted_as_the_500_it_was_answered() -> None:
    app = Starlette(routes=[Route("/crash/{n:int}", _crash)], middleware=[Middleware(RequestIds)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    before = _answered("/crash/{n:int}", "500")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/crash/1")).status_code == 500
        assert (await client.get("/crash/2")).status_code == 500
    assert _answered("/crash/{n:int}", "500") == before + 2
