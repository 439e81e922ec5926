"""What caresync takes from uvicorn beyond its documented settings, checked by name.

server/connection_limits.py subclasses uvicorn's httptools protocol and
server/websocket_protocol.py its websockets-sansio protocol (both private classes), and
server/serving.py overrides ``Server.startup``/``shutdown``; pyproject.toml bounds uvicorn
above the newest release tested. When a release changes one of these, this test says what
changed, instead of a connection limit silently doing nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import re

import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.websockets import websockets_sansio_impl
from uvicorn.server import ServerState

from server.connection_limits import HeaderDeadlineProtocol, uvicorn_limits
from server.serving import DrainingServer
from server.websocket_protocol import LenientTextWebSocketProtocol

OVERRIDDEN = {
    "connection_made": ["transport"],
    "data_received": ["data"],
    "on_headers_complete": [],
    "connection_lost": ["exc"],
    "on_message_begin": [],
    "on_url": ["url"],
    "on_header": ["name", "value"],
    "send_400_response": ["msg"],
}
"""HttpToolsProtocol's methods HeaderDeadlineProtocol overrides, with their parameters."""

READ_AFTER_INIT = ("limit_concurrency", "connections", "cycle", "loop")
"""Attributes of a fresh protocol that HeaderDeadlineProtocol reads."""

HTTP_STATE = ("flow", "transport")
"""Attributes HeaderDeadlineProtocol reads that the httptools protocol sets as it runs."""
CYCLE_STATE = ("response_complete", "keep_alive")
"""Attributes of a request's cycle that HeaderDeadlineProtocol reads."""

WS_OVERRIDDEN = {
    "data_received": ["data"],
    "connection_lost": ["exc"],
    "receive": [],
    "send_receive_event_to_app": [],
}
"""WebSocketsSansIOProtocol's methods LenientTextWebSocketProtocol overrides."""
WS_STATE = ("close_sent", "transport", "queue", "read_paused", "curr_msg_data_type", "frames")
"""Attributes of WebSocketsSansIOProtocol that LenientTextWebSocketProtocol reads or sets."""


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never called")


def _changes_in(module: object, class_name: str, methods: dict[str, list[str]], state: tuple[str, ...]) -> list[str]:
    """What no longer matches in ``module.class_name``: the methods overridden (by their
    parameters) and the attributes used (set somewhere in the class's source)."""
    base = getattr(module, class_name, None)
    if base is None:
        return [f"{getattr(module, '__name__', module)}.{class_name} is gone"]
    problems = []
    for name, parameters in methods.items():
        method = getattr(base, name, None)
        if method is None:
            problems.append(f"{class_name}.{name} is gone")
            continue
        seen = [p for p in inspect.signature(method).parameters if p != "self"]
        if seen != parameters:
            problems.append(f"{class_name}.{name} takes {seen}, was {parameters}")
    source = inspect.getsource(base)
    problems += [f"{class_name} no longer sets self.{name}" for name in state if not _assigns(source, name)]
    return problems


def _assigns(source: str, attribute: str) -> bool:
    """Whether ``source`` assigns ``self.<attribute>`` (annotated or not)."""
    return re.search(rf"self\.{attribute}\s*(:[^=\n]*)?=[^=]", source) is not None


def _changes_in_the_protocol() -> list[str]:
    problems = _changes_in(httptools_impl, "HttpToolsProtocol", OVERRIDDEN, HTTP_STATE)
    cycle = inspect.getsource(httptools_impl.RequestResponseCycle)
    return problems + [f"RequestResponseCycle no longer sets {n}" for n in CYCLE_STATE if not _assigns(cycle, n)]


def _changes_in_a_fresh_protocol() -> list[str]:
    config = uvicorn.Config(_app, **uvicorn_limits(max_connections=10))
    config.load()
    protocol = config.http_protocol_class(config=config, server_state=ServerState(), app_state={})
    problems = [f"a new HttpToolsProtocol has no {name!r}" for name in READ_AFTER_INIT if not hasattr(protocol, name)]
    if getattr(protocol, "limit_concurrency", None) != 10:
        problems.append("HttpToolsProtocol.limit_concurrency no longer carries Config.limit_concurrency")
    if not isinstance(getattr(protocol, "connections", None), set):
        problems.append("HttpToolsProtocol.connections is no longer the server's set of connections")
    return problems


def test_the_httptools_protocol_still_has_what_the_header_deadline_uses() -> None:
    problems = _changes_in_the_protocol()
    assert problems == [], (
        f"uvicorn {uvicorn.__version__} changed what server/connection_limits.py relies on: "
        + "; ".join(problems)
        + ". Adapt HeaderDeadlineProtocol, then raise uvicorn's upper bound in pyproject.toml."
    )


def test_the_websockets_protocol_still_has_what_the_lenient_text_protocol_uses() -> None:
    problems = _changes_in(websockets_sansio_impl, "WebSocketsSansIOProtocol", WS_OVERRIDDEN, WS_STATE)
    assert problems == [], (
        f"uvicorn {uvicorn.__version__} changed what server/websocket_protocol.py relies on: "
        + "; ".join(problems)
        + ". Adapt LenientTextWebSocketProtocol, then raise uvicorn's upper bound in pyproject.toml."
    )
    assert issubclass(LenientTextWebSocketProtocol, websockets_sansio_impl.WebSocketsSansIOProtocol)
    assert issubclass(uvicorn_limits()["ws"], LenientTextWebSocketProtocol)


def test_a_fresh_protocol_carries_the_state_the_header_deadline_reads() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())  # the protocol takes the current loop
    try:
        problems = _changes_in_a_fresh_protocol()
    finally:
        asyncio.get_event_loop().close()
        asyncio.set_event_loop(None)
    assert problems == [], f"uvicorn {uvicorn.__version__}: " + "; ".join(problems)


def test_config_takes_every_setting_caresync_passes() -> None:
    accepted = set(inspect.signature(uvicorn.Config).parameters)
    ours = set(uvicorn_limits()) | {
        "ws_max_size",
        "ws_per_message_deflate",
        "log_config",
        "proxy_headers",
        "forwarded_allow_ips",
        "timeout_graceful_shutdown",
    }
    assert ours - accepted == set(), f"uvicorn {uvicorn.__version__}.Config no longer takes {sorted(ours - accepted)}"


def test_the_server_still_has_the_steps_the_drain_overrides() -> None:
    for name in ("startup", "shutdown"):
        seen = list(inspect.signature(getattr(uvicorn.Server, name)).parameters)
        assert seen == ["self", "sockets"], f"uvicorn.Server.{name} takes {seen}; server/serving.py overrides it"
    startup = inspect.getsource(uvicorn.Server.startup)
    assert "self.servers" in startup, "uvicorn.Server.startup no longer keeps its listeners in servers"
    assert hasattr(uvicorn.Server(uvicorn.Config(_app)), "started"), "uvicorn.Server lost started"
    assert issubclass(DrainingServer, uvicorn.Server)
    assert issubclass(HeaderDeadlineProtocol, httptools_impl.HttpToolsProtocol)
