"""The Starlette application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from server.api import alerts, device_calls, devices, directory, reports, visits
from server.api.http import json_response
from server.api.request_guards import internal_caller, request_guards
from server.console import pages_alerts, pages_office
from server.node import Node
from server.observability import health, metrics
from server.observability.requests import RequestIds
from server.observability.sockets import SocketMetrics
from server.ws.console_session import ConsoleSession
from server.ws.device_session import DeviceSession

DEVICE_SOCKET_PATH = "/ws/device"
CONSOLE_SOCKET_PATH = "/ws/console"
CONSOLE_STATIC = Path(pages_office.__file__).with_name("static")


async def metrics_page(request: Request) -> Response:
    node: Node = request.app.state.node
    if not internal_caller(request):
        return json_response({"error": {"code": "not_found", "message": "not found"}}, 404)
    return Response(await metrics.render(node), media_type=metrics.CONTENT_TYPE)


async def device_socket(websocket: WebSocket) -> None:
    await DeviceSession(websocket, websocket.app.state.node).run()


async def console_socket(websocket: WebSocket) -> None:
    await ConsoleSession(websocket, websocket.app.state.node).run()


def create_app(node: Node) -> Starlette:
    """An app serving ``node``; its lifespan starts and stops the node."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    metrics.instrument_database(node.db)
    metrics.instrument_services(node)
    app = Starlette(
        routes=[
            *health.routes,
            Route("/metrics", metrics_page),
            WebSocketRoute(DEVICE_SOCKET_PATH, device_socket),
            WebSocketRoute(CONSOLE_SOCKET_PATH, console_socket),
            *visits.routes,
            *directory.routes,
            *devices.routes,
            *device_calls.routes,
            *reports.routes,
            *alerts.routes,
            *pages_alerts.routes,
            *pages_office.routes,
            Mount(
                "/console/static", StaticFiles(directory=Path(pages_office.__file__).with_name("static")), name="static"
            ),
        ],
        lifespan=lifespan,
        middleware=[
            *request_guards(node.settings.allowed_hosts),
            Middleware(RequestIds),
            Middleware(SocketMetrics, kinds={DEVICE_SOCKET_PATH: "device", CONSOLE_SOCKET_PATH: "console"}),
        ],
    )
    app.state.node = node
    return app
