"""What device and console sockets share: hello with a deadline, the frame size limit,
error frames, consecutive-error cut-off, start positions and closing."""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol import MAX_FRAME_BYTES
from protocol.codec import encode
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import Error, FeedPosition
from protocol.request_id import find_request_id
from protocol.session import AnnounceFeed, Greeted, RecordAck, SendError, ServerCommand
from server.clock import Clock
from server.services import feeds
from server.settings import Settings
from server.store.database import Database
from server.store.outage import StoreUnavailable
from server.ws.cooling_off import CoolingOff
from server.ws.frame_budget import RECONNECT_AFTER_S
from server.ws.streamer import FeedStreamer, head_reads
from server.ws.wire import AsgiWire, SendMessages, Wire

REFUSALS_OF_GOOD_FRAMES = frozenset({ErrorCode.UPLOAD_QUOTA_EXCEEDED})
"""Errors that answer a well-formed frame the server will not take now: they do not count
towards ``max_consecutive_errors`` bad frames in a row (a device retrying its outbox over
its quota must not be closed 4102, which is terminal)."""


class FeedSocket(abc.ABC):
    __slots__ = (
        "_catch_up",
        "_closed",
        "_errors_in_a_row",
        "_hello_errors",
        "clock",
        "opened_at_ms",
        "settings",
        "streamer",
        "wire",
        "ws",
    )

    def __init__(
        self,
        websocket: WebSocket | Wire,
        settings: Settings,
        db: Database,
        clock: Clock,
        family: feeds.FeedFamily,
        messages: SendMessages | None = None,
    ) -> None:
        self.ws = websocket if isinstance(websocket, WebSocket) else None
        """The ASGI socket, for a socket served through uvicorn's WebSocket protocol."""
        self.wire = websocket if isinstance(websocket, Wire) else AsgiWire(websocket, messages or SendMessages())
        self.settings = settings
        self.clock = clock
        self.opened_at_ms = clock.now_ms()
        """When the socket was accepted: effects made before it apply to it, later ones do not."""
        self.streamer = FeedStreamer(
            self.wire,
            db,
            clock,
            family,
            settings.send_queue_limit,
            self.close,
            stall_s=settings.send_stall_s,
            messages=messages,
        )
        self._closed = False
        self._errors_in_a_row = 0
        self._hello_errors: list[Error] = []
        self._catch_up: list[ServerCommand] = []

    # ------------------------------------------------------------ to implement

    @abc.abstractmethod
    def decode(self, text: str) -> Any:
        """Decode one frame from the peer; raise :class:`ProtocolError`."""

    @abc.abstractmethod
    async def greet(self, hello: Any) -> bool:
        """Authenticate the first frame, queue the welcome; False if the socket was closed."""

    @abc.abstractmethod
    async def on_frame(self, frame: Any) -> None:
        """Handle a frame after the hello; raise :class:`ProtocolError` for an error frame."""

    @abc.abstractmethod
    def on_closed(self) -> None:
        """Forget this socket (registries, presence)."""

    @property
    @abc.abstractmethod
    def channels(self) -> list[str]:
        """The bus channels of the feeds this socket follows."""

    @property
    def device_key(self) -> str | None:
        """The device id, for device sockets (one socket per device)."""
        return None

    @property
    def staff_key(self) -> str | None:
        """The staff user id, for console sockets (closed when their token is revoked)."""
        return None

    def recheck(self) -> None:
        """Re-check the socket's credentials now (console sockets; devices: nothing)."""
        return None

    def demand_resync(self, reason: str) -> None:
        """Ask the peer for a clean sync of its feeds (device sockets; consoles: nothing)."""
        return None

    hello_type: type

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Serve an ASGI socket: accept, the hello (within ``hello_timeout_s``), then frames
        until either side closes. A lean connection calls :meth:`hello_received` and
        :meth:`frame_received` itself, as frames arrive."""
        assert self.ws is not None, "run() serves an ASGI socket"
        await self.ws.accept()
        greeted = False
        try:
            try:
                async with asyncio.timeout(self.settings.hello_timeout_s):
                    data = await self._receive_text()
            except TimeoutError:
                await self.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
                return
            greeted = await self.hello_received(data)
            while greeted and not self._closed:
                await self.frame_received(await self._receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            self.ended(greeted)

    async def hello_received(self, data: str | bytes) -> bool:
        """The first frame: the hello, greeted; True if the socket is now greeted and its
        streamer started, False if it was closed."""
        hello = await self._decode_hello(data)
        if hello is None:
            return False
        try:
            greeted = await self.greet(hello)
        except StoreUnavailable as exc:  # the device retries after the hint in the reason
            await self.fail(ErrorCode.INTERNAL_ERROR, str(exc), CloseCode.TRY_AGAIN_LATER)
            return False
        if greeted:
            self.streamer.start()
        return greeted

    def ended(self, greeted: bool) -> None:
        """The connection is gone: stop sending, and forget a greeted socket."""
        self._closed = True
        self.streamer.stop()
        if greeted:
            self.on_closed()

    @property
    def closed(self) -> bool:
        return self._closed

    def reset_errors(self) -> None:
        """A frame was handled: the count of bad frames in a row starts again."""
        self._errors_in_a_row = 0

    slow_consumers_closed = 0
    """Sockets closed as slow consumers by this process (shown in /healthz)."""

    async def close(self, code: CloseCode, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if code == CloseCode.SLOW_CONSUMER:
            FeedSocket.slow_consumers_closed += 1
        self.streamer.stop()
        with contextlib.suppress(Exception):
            await self.wire.close(code, reason)

    async def fail(self, code: ErrorCode, message: str, close: CloseCode) -> None:
        """Send an error frame directly (not queued), then close."""
        with contextlib.suppress(Exception):
            await self.wire.send_now(encode(Error(code=code, message=message)).decode())
        await self.close(close, message[:120])

    async def fail_queued(self, code: ErrorCode, message: str, close: CloseCode) -> None:
        """Send an error frame behind what is already queued, then close (a live socket)."""
        self.send_error(code, message)
        await self.streamer.drained(timeout_s=1.0)
        await self.close(close, message[:120])

    async def close_for_flooding(self, cooling_off: CoolingOff, token_hash: str, limit: str) -> None:
        """Close a socket that kept sending beyond ``limit`` (4005); its token sits out the
        wait the close names (:mod:`server.ws.cooling_off`)."""
        cooling_off.start(token_hash, self.clock.now_ms() + RECONNECT_AFTER_S * 1000)
        message = f"too many frames beyond {limit}; retry in {RECONNECT_AFTER_S} s"
        await self.fail_queued(ErrorCode.RATE_LIMITED, message, CloseCode.TOO_MANY_FRAMES)

    async def refused_while_cooling_off(self, cooling_off: CoolingOff, token_hash: str) -> bool:
        """Refuse a hello whose token still sits out a 4005's wait (before anything is read for it)."""
        wait_s = cooling_off.remaining_s(token_hash, self.clock.now_ms())
        if wait_s:
            message = f"closed for too many frames; retry in {wait_s} s"
            await self.fail(ErrorCode.RATE_LIMITED, message, CloseCode.TOO_MANY_FRAMES)
        return wait_s > 0

    def send_welcome(self, welcome: msgspec.Struct) -> None:
        """Queue the welcome, then the errors about the hello's positions, then catch-up."""
        self.streamer.send_frame(welcome)
        for error in self._hello_errors:
            self.streamer.send_frame(error)
        self._hello_errors.clear()
        self.streamer.run_commands(self._catch_up)
        self._catch_up = []

    def send_error(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        self.streamer.send_frame(Error(code=code, message=message, request_id=request_id))

    # ------------------------------------------------------------ reading

    async def _decode_hello(self, data: str | bytes) -> Any:
        """The hello in the first frame; None (and the socket failed) for anything else."""
        try:
            frame = self.decode(text_of(data))
        except ProtocolError as exc:
            await self.fail(exc.code, exc.message, CloseCode.PROTOCOL_VIOLATION)
            return None
        if not isinstance(frame, self.hello_type):
            await self.fail(ErrorCode.UNEXPECTED_FRAME, "the first frame must be hello", CloseCode.PROTOCOL_VIOLATION)
            return None
        return frame

    async def _receive_text(self) -> str | bytes:
        """The next frame of an ASGI socket: text, or bytes (a binary frame, or a text frame
        that is not UTF-8, see :mod:`server.websocket_protocol`); oversize frames get
        ``frame_too_large`` and close 4103."""
        assert self.ws is not None
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text: str | None = message.get("text")
        data: str | bytes = message.get("bytes") or b"" if text is None else text
        too_large = oversize(data)
        if too_large is not None:
            await self.fail(ErrorCode.FRAME_TOO_LARGE, too_large, CloseCode.FRAME_TOO_LARGE)
            raise WebSocketDisconnect(CloseCode.FRAME_TOO_LARGE)
        return data

    async def frame_too_large(self, message: str) -> None:
        """A frame over the limit arrived: ``frame_too_large``, then close 4103."""
        await self.fail(ErrorCode.FRAME_TOO_LARGE, message, CloseCode.FRAME_TOO_LARGE)

    async def frame_received(self, data: str | bytes) -> None:
        """A frame after the hello: handled, or answered with an error frame (too many bad
        frames in a row close the socket)."""
        try:
            frame = self.decode(text_of(data))
        except ProtocolError as exc:
            closing = self.refuse(exc)
            if closing is not None:
                await closing
            return
        await self.handle(frame)

    def frame_arrived(self, data: str | bytes) -> Coroutine[Any, Any, None] | None:
        """A frame after the hello, for a connection that calls its socket as frames arrive:
        handled now when that takes nothing but memory (None), else the coroutine that
        handles it (run to its end before the next frame). Sockets with such frames (acks,
        heartbeats) override this."""
        return self.frame_received(data)

    def refuse(self, exc: ProtocolError) -> Coroutine[Any, Any, None] | None:
        """Answer a frame that could not be handled with its error; the close, once too
        many came in a row."""
        if exc.code not in REFUSALS_OF_GOOD_FRAMES:
            self._errors_in_a_row += 1
        self.send_error(exc.code, exc.message, exc.request_id)
        if self._errors_in_a_row >= self.settings.max_consecutive_errors:
            return self.close(CloseCode.PROTOCOL_VIOLATION, "too many bad frames in a row")
        return None

    async def handle(self, frame: Any) -> None:
        """Handle a decoded frame: a store outage is answered and the socket stays open."""
        try:
            await self.on_frame(frame)
            self._errors_in_a_row = 0
        except StoreUnavailable as exc:
            self.send_error(ErrorCode.INTERNAL_ERROR, str(exc), getattr(frame, "request_id", None))
        except ProtocolError as exc:
            closing = self.refuse(exc)
            if closing is not None:
                await closing

    # ------------------------------------------------------------ positions

    def start_feeds(
        self, claimed: list[FeedPosition], heads: dict[str, feeds.Head], *, resync: bool = False
    ) -> tuple[dict[str, AnnounceFeed], list[RecordAck]]:
        """Start this socket's feeds from the hello's positions (the session decides).

        Returns each feed's welcome status and the hello positions that count as acks;
        queues the errors about the hello's positions (sent right after the welcome) and
        the catch-up reads (run when the streamer starts).
        """
        event = Greeted(claimed=tuple(claimed), heads=head_reads(heads), resync=resync)
        statuses: dict[str, AnnounceFeed] = {}
        acks: list[RecordAck] = []
        for command in self.streamer.session.handle(event):
            if isinstance(command, AnnounceFeed):
                statuses[command.feed] = command
            elif isinstance(command, RecordAck):
                acks.append(command)
            elif isinstance(command, SendError):
                self._hello_errors.append(Error(code=command.code, message=command.message))
            else:
                self._catch_up.append(command)
        return statuses, acks


def oversize(data: str | bytes) -> str | None:
    """Why a frame is over :data:`MAX_FRAME_BYTES` (its size in UTF-8), or None."""
    size = len(data) if isinstance(data, bytes) or len(data) > MAX_FRAME_BYTES else len(data.encode())
    if size <= MAX_FRAME_BYTES:
        return None
    return f"frame of {size} bytes exceeds the limit of {MAX_FRAME_BYTES}"


def text_of(data: str | bytes) -> str:
    """A frame's text: binary frames are read as text (docs/protocol.md, section 1), and a
    frame that is not UTF-8 is a ``malformed_frame``."""
    if isinstance(data, str):
        return data
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, f"not UTF-8: {exc.reason}", find_request_id(data)) from exc
