"""The Starlette application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from server.api import alerts, carer_feeds, device_calls, devices, directory, reports, visit_verification, visits
from server.api.http import error_response, json_response
from server.api.request_guards import internal_caller, request_guards
from server.console import pages_alerts, pages_devices, pages_office, pages_rota, pages_verification
from server.node import Node
from server.observability import health, metrics
from server.observability.requests import RequestIds
from server.observability.sockets import SocketMetrics
from server.openapi import docs_page
from server.openapi.document import document_json
from server.store.outage import StoreUnavailable
from server.ws.console_socket import ConsoleSocket
from server.ws.device_socket import DeviceSocket
from server.ws.paths import CONSOLE_SOCKET_PATH, DEVICE_SOCKET_PATH

CONSOLE_STATIC = Path(pages_office.__file__).with_name("static")


async def root(request: Request) -> Response:
    """A browser pointed at the node's address finds the office console."""
    return RedirectResponse("/console")


async def metrics_page(request: Request) -> Response:
    node: Node = request.app.state.node
    if not internal_caller(request):
        return json_response({"error": {"code": "not_found", "message": "not found"}}, 404)
    return Response(await metrics.render(node), media_type=metrics.CONTENT_TYPE)


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 description of the REST API (server/openapi/)."""
    return Response(document_json(), media_type="application/json")


_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods: the JSON error envelope (the console keeps plain text)."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/console"):
        return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
    code = _HTTP_ERROR_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
    response = error_response(exc.status_code, code, message)
    response.headers.update(exc.headers or {})
    return response


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """A store outage no endpoint answered itself: 503 with Retry-After, logged once by the store."""
    assert isinstance(exc, StoreUnavailable)
    headers = {"retry-after": str(exc.retry_after_s)}
    if request.url.path.startswith("/console"):
        text = f"The database is unavailable just now; try again in {exc.retry_after_s} seconds."
        return PlainTextResponse(text, 503, headers=headers)
    response = error_response(503, "unavailable", str(exc))
    response.headers.update(headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """An error nothing else handled (logged by uvicorn): the JSON error envelope."""
    if request.url.path.startswith("/console"):
        return PlainTextResponse("Internal Server Error", 500)
    return error_response(500, "internal_error", "the server failed; retry later")


async def device_socket(websocket: WebSocket) -> None:
    """The device socket through ASGI: served when the node runs under an ASGI server of its
    own choosing (``caresync serve`` answers it on the lean layer, server/ws/lean/)."""
    await DeviceSocket(websocket, websocket.app.state.node).run()


async def console_socket(websocket: WebSocket) -> None:
    await ConsoleSocket(websocket, websocket.app.state.node).run()


def create_app(node: Node) -> Starlette:
    """An app serving ``node``; its lifespan starts and stops the node."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = Starlette(
        routes=[
            Route("/", root, methods=["GET"]),
            *health.routes,
            Route("/metrics", metrics_page),
            Route("/api/v1/openapi.json", openapi_json),
            *docs_page.routes,
            WebSocketRoute(DEVICE_SOCKET_PATH, device_socket),
            WebSocketRoute(CONSOLE_SOCKET_PATH, console_socket),
            *visits.routes,
            *carer_feeds.routes,
            *directory.routes,
            *devices.routes,
            *device_calls.routes,
            *reports.routes,
            *visit_verification.routes,
            *alerts.routes,
            *pages_alerts.routes,
            *pages_office.routes,
            *pages_devices.routes,
            *pages_rota.routes,
            *pages_verification.routes,
            Mount(
                "/console/static", StaticFiles(directory=Path(pages_office.__file__).with_name("static")), name="static"
            ),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, StoreUnavailable: store_unavailable, Exception: server_error},
        middleware=[
            *request_guards(node.settings.allowed_hosts),
            Middleware(RequestIds),
            Middleware(SocketMetrics, kinds={DEVICE_SOCKET_PATH: "device", CONSOLE_SOCKET_PATH: "console"}),
        ],
    )
    # A path with a trailing slash is not redirected to the one without: an API client gets
    # the JSON 404 every unknown path gets (a redirect carries no body and, for a PATCH or a
    # POST, asks the client to send its body again elsewhere).
    app.router.redirect_slashes = False
    app.state.node = node
    return app
