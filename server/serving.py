"""``caresync serve``: one node under uvicorn, with a graceful drain on SIGTERM.

On SIGTERM (or Ctrl+C) the node stops accepting connections and answers 503 on
``/readyz``; then it closes its sockets with 4000 ("server shutting down": reconnect and
resume) spread over the drain window (``--drain-s``), each one after its unanswered sync
requests are answered; it writes the acks and bookkeeping it holds, lets uvicorn finish
in-flight HTTP requests, and exits. Devices land on the other nodes gradually instead of
all at once.
"""

from __future__ import annotations

import json
import logging
import socket

import uvicorn

from protocol import MAX_FRAME_BYTES
from protocol.errors import CloseCode
from server.app import create_app
from server.connection_limits import uvicorn_limits
from server.node import Node
from server.settings import Settings
from server.startup import tune_gc
from server.ws.feed_socket import FeedSocket
from server.ws.lean.layer import LeanLayer
from server.ws.shutdown import shutdown_reason

log = logging.getLogger(__name__)

SYNC_ANSWER_GRACE_S = 10.0
"""How long a draining node waits for a socket's sync in progress before closing it anyway
(the device retries it elsewhere; uploads are idempotent)."""


async def drain(node: Node, window_s: float) -> None:
    """Mark the node draining, close every socket with 4000 over ``window_s``, write acks."""
    node.draining = True
    log.info(
        "draining: %d device and %d console sockets over %.1f s",
        node.hub.session_count,
        node.hub.console_count,
        window_s,
    )

    async def close(feed_socket: FeedSocket) -> None:
        watch = feed_socket.wire.watch
        if watch is not None and not await watch.answered(SYNC_ANSWER_GRACE_S):
            log.warning("closing a socket whose sync request is still unanswered after %.0f s", SYNC_ANSWER_GRACE_S)
        await feed_socket.close(CloseCode.SERVER_SHUTDOWN, shutdown_reason())

    await node.hub.drain(window_s, close)
    await node.activity.flush()
    log.info("drained: every socket closed, acks written")


class DrainingServer(uvicorn.Server):
    """uvicorn, stopping by :func:`drain` before its own shutdown (which would send 1012)."""

    def __init__(self, config: uvicorn.Config, node: Node, drain_s: float) -> None:
        super().__init__(config)
        self.node = node
        self.drain_s = drain_s

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:  # the node is up (lifespan done): what start-up made lives as long as the process
            tune_gc(self.node.hub.waves)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        try:
            await drain(self.node, self.drain_s)
        except Exception:
            log.exception("drain failed; closing what is left")
        await super().shutdown(sockets)


def serve(settings: Settings, node: Node) -> None:
    """Serve ``node`` until SIGTERM/SIGINT, then drain and exit."""
    log.info("configuration: %s", json.dumps(settings.redacted(), default=str))
    config = uvicorn.Config(
        create_app(node),
        host=settings.host,
        port=settings.port,
        ws_max_size=4 * MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        backlog=settings.listen_backlog,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.drain_s + SYNC_ANSWER_GRACE_S + 20),
        **uvicorn_limits(
            settings.header_timeout_s,
            settings.keep_alive_timeout_s,
            settings.max_connections,
            settings.ws_ping_interval_s,
            settings.ws_ping_timeout_s,
            LeanLayer(node),
        ),
    )
    DrainingServer(config, node, settings.drain_s).run()
