"""Serving a node with uvicorn inside the current event loop, on a loopback port.

Used by ``caresync demo``, the tests and the benchmarks, so that they all run the same
app the same way ``caresync serve`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import uvicorn

from protocol import MAX_FRAME_BYTES
from server.app import create_app
from server.connection_limits import uvicorn_limits
from server.node import Node
from server.ws.lean.layer import LeanLayer
from server.ws.paths import CONSOLE_SOCKET_PATH, DEVICE_SOCKET_PATH


@dataclass
class RunningServer:
    node: Node
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{DEVICE_SOCKET_PATH}"

    @property
    def console_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{CONSOLE_SOCKET_PATH}"


async def start_server(node: Node, port: int = 0) -> RunningServer:
    """Start the node's app on 127.0.0.1 (``port`` 0: any free port) and wait until it serves."""
    config = uvicorn.Config(
        create_app(node),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_size=4 * MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        backlog=node.settings.listen_backlog,
        lifespan="on",
        **uvicorn_limits(
            node.settings.header_timeout_s,
            node.settings.keep_alive_timeout_s,
            node.settings.max_connections,
            node.settings.ws_ping_interval_s,
            node.settings.ws_ping_timeout_s,
            LeanLayer(node),
        ),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        await asyncio.sleep(0.01)
    bound: int = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(node, bound, server, task)


async def stop_server(running: RunningServer) -> None:
    running.server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running.task, 10)
