from __future__ import annotations

import asyncio

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from server.connection_limits import MAX_HEADER_BYTES, uvicorn_limits
from server.settings import Settings
from tests.conftest import RunningServer


def test_websocket_keepalive_comes_from_the_settings() -> None:
    defaults = Settings()
    limits = uvicorn_limits(
        ws_ping_interval_s=defaults.ws_ping_interval_s, ws_ping_timeout_s=defaults.ws_ping_timeout_s
    )
    assert (limits["ws_ping_interval"], limits["ws_ping_timeout"]) == (60.0, 20.0)
    # The slow-consumer bound stays below the keepalive, so a stalled device sees 4001.
    assert defaults.send_stall_s < defaults.ws_ping_interval_s + defaults.ws_ping_timeout_s


def test_a_zero_ping_interval_turns_websocket_pings_off() -> None:
    limits = uvicorn_limits(ws_ping_interval_s=0, ws_ping_timeout_s=20)
    assert limits["ws_ping_interval"] is None
    assert limits["ws_ping_timeout"] is None


class _RecordingTransport(asyncio.Transport):
    """A transport that keeps what the protocol writes, for feeding requests byte by byte."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _connection() -> tuple[asyncio.Protocol, _RecordingTransport, ServerState]:
    limits = uvicorn_limits()
    config = uvicorn.Config(_ok, log_config=None, **limits)
    config.load()
    state = ServerState()
    protocol: asyncio.Protocol = limits["http"](config=config, server_state=state, app_state={})
    transport = _RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport, state


def _request(path: bytes = b"/", header_bytes: int = 0) -> bytes:
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 990) for n in range(header_bytes // 1000))
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding + b"\r\n"


async def _answered(state: ServerState) -> None:
    while state.tasks:
        await asyncio.gather(*state.tasks)


# The issue's case, a short request line and headers, long ones in one write or dribbled,
# and an oversized request behind an ordinary one in the same write.
OVERSIZED = [
    _request(b"/?q=" + b"x" * 40_000, 120_000),
    _request(b"/?q=" + b"x" * (MAX_HEADER_BYTES + 1)),
    _request(header_bytes=MAX_HEADER_BYTES + 1000),
]


@pytest.mark.parametrize("request_bytes", OVERSIZED, ids=["query+headers", "query", "headers"])
@pytest.mark.parametrize("read_size", [None, 1000], ids=["one read", "many reads"])
async def test_a_request_over_the_header_limit_is_refused_however_it_arrives(
    request_bytes: bytes, read_size: int | None
) -> None:
    protocol, transport, state = _connection()
    step = read_size or len(request_bytes)
    for start in range(0, len(request_bytes), step):
        if transport.closed:
            break
        protocol.data_received(request_bytes[start : start + step])
    await _answered(state)
    assert transport.written.startswith(b"HTTP/1.1 431 "), bytes(transport.written[:80])
    assert transport.closed


async def test_an_oversized_request_pipelined_behind_an_ordinary_one_is_not_served() -> None:
    """Answers go out in order: the first request is answered, then the connection closes
    (a client retries an unanswered pipelined request, and alone it gets its 431)."""
    protocol, transport, state = _connection()
    protocol.data_received(_request() + _request(header_bytes=MAX_HEADER_BYTES + 1000))
    await _answered(state)
    answers = bytes(transport.written)
    assert answers.startswith(b"HTTP/1.1 200 ") and answers.count(b"HTTP/1.1 ") == 1, answers
    assert b"connection: close" in answers
    assert transport.closed


async def test_an_oversized_request_after_an_answered_one_is_refused() -> None:
    protocol, transport, state = _connection()
    protocol.data_received(_request())
    await _answered(state)
    protocol.data_received(_request(b"/?q=" + b"x" * 40_000, 120_000))
    await _answered(state)
    answers = bytes(transport.written)
    assert answers.startswith(b"HTTP/1.1 200 ") and answers.endswith(b"request headers too large\n"), answers
    assert transport.closed


async def test_requests_within_the_header_limit_are_served_one_after_another() -> None:
    protocol, transport, state = _connection()
    near_limit = _request(header_bytes=MAX_HEADER_BYTES - 2000)
    for _ in range(3):  # each request has its own allowance, on one kept-alive connection
        protocol.data_received(near_limit)
        await _answered(state)
    assert bytes(transport.written).count(b"HTTP/1.1 200 ") == 3
    assert not transport.closed


async def test_the_issue_s_request_is_refused_over_a_real_socket(running: RunningServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(_request(b"/livez?q=" + b"x" * 40_000, 120_000))
    await writer.drain()
    async with asyncio.timeout(10):  # a bounded wait for the answer, not a speed check
        assert b" 431 " in await reader.readline()
    writer.close()
