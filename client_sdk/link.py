"""The device's connection: a WebSocket kept open with reconnects, request/response over
it, and the HTTP fallback for the same requests when no socket is up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from client_sdk.backoff import Backoff
from client_sdk.errors import DeviceStopped, RequestFailed
from protocol.codec import decode_server_frame, encode
from protocol.device_session import FramePeek, peek
from protocol.errors import CloseCode, ErrorCode, ProtocolError, reconnect_after_s, retry_hint_s, should_reconnect
from protocol.frames import (
    Ack,
    CleanSyncRequest,
    CleanSyncResponse,
    Error,
    Hello,
    Seen,
    SeenRecorded,
    ServerFrame,
    SyncRequest,
    SyncResponse,
)
from protocol.liveness import silence_limit_s

log = logging.getLogger(__name__)

Request = SyncRequest | CleanSyncRequest | Seen
Response = SyncResponse | CleanSyncResponse | SeenRecorded
_HTTP_PATHS = {
    SyncRequest: "/api/v1/device/sync",
    CleanSyncRequest: "/api/v1/device/clean-sync",
    Seen: "/api/v1/device/seen",
}
ACK_PATH = "/api/v1/device/ack"
_error_body = msgspec.json.Decoder(dict[str, Error])
DRAIN_JITTER_S = 0.25
"""Added at random to a draining node's ``reconnect_after_ms``."""


def http_base(ws_url: str) -> str:
    """``ws://host:port/ws/device`` -> ``http://host:port`` (wss -> https)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class Link:
    def __init__(
        self,
        urls: list[str],
        http_url: str,
        token: str,
        hello: Callable[[], Hello],
        on_frame: Callable[[ServerFrame], Awaitable[None]],
        backoff: Backoff,
    ) -> None:
        self.urls = urls
        self.http_url = http_url
        self.token = token
        self.hello = hello
        self.on_frame = on_frame
        self.backoff = backoff
        self.connected = asyncio.Event()
        self.stopped_by: DeviceStopped | None = None
        self.drops = 0
        self.cut_after_frames: int | None = None
        """Fault injection for tests: abort the socket after this many more frames."""
        self._ws: ClientConnection | None = None
        self._url_index = 0
        self._silence_s: float | None = None
        """How long the welcomed socket may stay silent (docs/protocol.md §3, step 6)."""
        self._pending: dict[str, asyncio.Future[Response]] = {}
        self._clean_requests: set[str] = set()
        """Ids of the pending requests that are clean syncs."""
        self._http: httpx.AsyncClient | None = None
        self.on_undecodable: Callable[[str | None], Awaitable[None]] | None = None
        """Called with the feed an undecodable frame named (None: unknown)."""

    # ------------------------------------------------------------ the socket

    async def run(self) -> None:
        """Keep a socket open until a terminal close; reconnect with backoff otherwise."""
        while True:
            url = self.urls[self._url_index % len(self.urls)]
            try:
                async with connect(url, max_size=4 * 1024 * 1024, compression=None, open_timeout=5) as ws:
                    self._ws = ws
                    await self._serve(ws)
                code, reason = ws.close_code or 1006, ws.close_reason or ""
            except ConnectionClosed as closed:
                code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
            except (OSError, TimeoutError, ConnectionError, InvalidHandshake) as exc:
                # A handshake that fails (the connection dropped before an answer, a balancer
                # answering 502/503) is a network error like any other: back off, dial again.
                code, reason = 1006, str(exc)
            finally:
                self._lost()
            if not should_reconnect(code):
                self.stopped_by = DeviceStopped(code, reason)
                return
            self._url_index += 1
            await asyncio.sleep(self._delay_after(code, reason))

    def _delay_after(self, code: int, reason: str) -> float:
        """Backoff, except where the close names its own wait; then take it, with jitter,
        without growing the backoff. A 4003 (the server cannot serve now: its database is
        down) says ``retry in N s``; a draining node's 4000 says ``reconnect_after_ms=N``
        (already spread over the fleet by the node; the jitter only breaks ties), and the
        other nodes are fine, so there is nothing to back off from."""
        if code == CloseCode.TRY_AGAIN_LATER and (hint := retry_hint_s(reason)) is not None:
            return hint * random.uniform(1.0, 1.5)
        if code == CloseCode.SERVER_SHUTDOWN and (after := reconnect_after_s(reason)) is not None:
            return after + random.uniform(0.0, DRAIN_JITTER_S)
        return self.backoff.next_delay()

    async def _serve(self, ws: ClientConnection) -> None:
        await self._send(ws, encode(self.hello()).decode())
        while True:
            try:
                async with asyncio.timeout(self._silence_s):
                    raw = await ws.recv()
            except TimeoutError:
                log.warning("nothing from the server for %.0f s: the connection is lost", self._silence_s)
                ws.transport.abort()
                raise ConnectionError("the server went silent") from None
            self._count(ws)
            try:
                frame = decode_server_frame(raw)
            except ProtocolError as exc:
                await self._undecodable(peek(raw), exc)
                continue
            if isinstance(frame, SyncResponse | CleanSyncResponse | SeenRecorded):
                self._resolve(frame.request_id, frame)
            elif isinstance(frame, Error) and frame.request_id in self._pending:
                self._resolve(frame.request_id, RequestFailed(frame))
            else:
                await self.on_frame(frame)

    async def _undecodable(self, seen: FramePeek, exc: Exception, *, answers_clean_sync: bool = False) -> None:
        """A frame this device cannot read: fail the request it answers (if it names one),
        and let the device fall back to a clean sync of what it may have concerned, unless
        the frame answered a clean sync: that one fails, and its caller retries it (one
        clean sync of a feed at a time, not one more per unreadable page)."""
        log.warning("a %s frame from the server could not be decoded (%s)", seen.type or "unreadable", exc)
        if seen.request_id is not None and seen.request_id in self._pending:
            answers_clean_sync = answers_clean_sync or seen.request_id in self._clean_requests
            failed = Error(code=ErrorCode.INVALID_FRAME, message=str(exc), request_id=seen.request_id)
            self._resolve(seen.request_id, RequestFailed(failed))
        if self.on_undecodable is not None and not answers_clean_sync:
            await self.on_undecodable(seen.feed)

    def welcomed(self, heartbeat_interval_s: float | None) -> None:
        """The socket is welcomed: reset the backoff, and from now on treat it as lost
        after the silence the server's heartbeat interval allows (None: no bound)."""
        self.backoff.reset()
        self._silence_s = None if heartbeat_interval_s is None else silence_limit_s(heartbeat_interval_s)
        self.connected.set()

    def _lost(self) -> None:
        if self.connected.is_set():
            self.drops += 1
        self._ws = None
        self._silence_s = None
        self.connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        self._pending.clear()

    def _resolve(self, request_id: str, outcome: Response | Exception) -> None:
        future = self._pending.pop(request_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    async def _send(self, ws: ClientConnection, text: str) -> None:
        await ws.send(text)
        self._count(ws)

    def _count(self, ws: ClientConnection) -> None:
        if self.cut_after_frames is None:
            return
        self.cut_after_frames -= 1
        if self.cut_after_frames <= 0:
            self.cut_after_frames = None
            ws.transport.abort()
            self._lost()
            raise ConnectionError("connection cut (fault injection)")

    async def send(self, frame: msgspec.Struct) -> bool:
        """Send a frame if a socket is up; False otherwise (acks are resent on reconnect)."""
        ws = self._ws
        if ws is None or not self.connected.is_set():
            return False
        try:
            await self._send(ws, encode(frame).decode())
        except (ConnectionClosed, ConnectionError):
            return False
        return True

    async def close_socket(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    # ------------------------------------------------------------ requests

    async def request(self, frame: Request, timeout: float = 30.0) -> Response:
        """Over the socket when it is up, else over HTTP: the same request and answer."""
        ws = self._ws
        if ws is not None and self.connected.is_set():
            return await self._over_socket(ws, frame, timeout)
        return await self._over_http(frame, timeout)

    async def _over_socket(self, ws: ClientConnection, frame: Request, timeout: float) -> Response:
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[frame.request_id] = future
        if isinstance(frame, CleanSyncRequest):
            self._clean_requests.add(frame.request_id)
        try:
            try:
                await self._send(ws, encode(frame).decode())
            except (ConnectionClosed, ConnectionError) as exc:
                self._pending.pop(frame.request_id, None)
                with contextlib.suppress(Exception):
                    await ws.close()
                raise ConnectionError("connection lost") from exc
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._clean_requests.discard(frame.request_id)

    async def acknowledge(self, ack: Ack, timeout: float = 30.0) -> None:
        """Report an applied position: an ``ack`` frame on the socket when it is up, else
        ``POST /api/v1/device/ack`` (docs/protocol.md, section 8). Raises like a request."""
        if await self.send(ack):
            return
        await self._post(ACK_PATH, encode(ack), None, timeout)

    async def _post(self, path: str, body: bytes, request_id: str | None, timeout: float) -> httpx.Response:
        """POST a body with the device token; a non-2xx answer raises :class:`RequestFailed`."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.http_url, headers={"authorization": f"Bearer {self.token}"}, timeout=timeout
            )
        try:
            reply = await self._http.post(path, content=body)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"HTTP request failed: {exc}") from exc
        if not reply.is_success:
            try:
                error = _error_body.decode(reply.content)["error"]
            except (msgspec.DecodeError, msgspec.ValidationError, KeyError):
                error = Error(code=ErrorCode.INTERNAL_ERROR, message=f"HTTP {reply.status_code}")
            if reply.status_code == 401:
                self.stopped_by = DeviceStopped(4101 if error.code == "revoked" else 4100, error.message)
            raise RequestFailed(Error(code=error.code, message=error.message, request_id=request_id))
        return reply

    async def _over_http(self, frame: Request, timeout: float) -> Response:
        reply = await self._post(_HTTP_PATHS[type(frame)], encode(frame), frame.request_id, timeout)
        if isinstance(frame, Seen):  # 204: recorded, as the socket's seen_recorded says
            return SeenRecorded(request_id=frame.request_id, feed=frame.feed, epoch=frame.epoch, seqs=frame.seqs)
        try:
            if isinstance(frame, SyncRequest):
                return msgspec.json.decode(reply.content, type=SyncResponse)
            return msgspec.json.decode(reply.content, type=CleanSyncResponse)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._undecodable(peek(reply.content), exc, answers_clean_sync=isinstance(frame, CleanSyncRequest))
            failed = Error(code=ErrorCode.INVALID_FRAME, message=str(exc), request_id=frame.request_id)
            raise RequestFailed(failed) from exc

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
