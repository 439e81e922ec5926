"""One device's WebSocket connection, driven by its transport: no task, queue or event
while it is idle.

The transport calls :meth:`DeviceConnection.data_received`; websockets' sans-I/O
``ServerProtocol`` parses the frames (RFC 6455: masking, fragments, control frames, the
size limit, the closing handshake) and each complete message goes to the
:class:`DeviceSocket` at once. What the socket can handle from memory (acks, heartbeats,
refusals) is handled in that step; a frame that needs the store (the hello, a sync
request, a seen frame) gets a task that ends with it, and frames arriving meanwhile wait
behind it in order (reading pauses past :data:`PARSE_AHEAD_MESSAGES`). What a peer sends
is parsed a slice of :data:`PARSE_SLICE_BYTES` at a time, so a socket closed for
flooding has not cost the parsing of everything it sent.

Frames out are written straight to the transport, framed once for every socket that
gets the same text (:class:`FramedTexts`). While the transport's buffer is over its
high-water mark a write waits (the streamer's stall limit bounds it).

One deadline per connection (:mod:`server.ws.lean.deadlines`, no loop timer of its own)
does three jobs: the hello deadline, the keepalive ping
(``ws_ping_interval_s``, answered within ``ws_ping_timeout_s`` or closed 1011), and the
pong deadline of the **delivery probe**. A connection sent :data:`PROBE_AFTER_BYTES` or
more without a word from its peer since (a device acknowledges the changes it applies)
is listed, and a node-wide sweep every quarter of ``send_stall_s`` pings the listed
ones; no pong within the rest of ``send_stall_s`` means the device stopped reading, and
it is closed **4001**. Kernel socket buffers on both sides can hold megabytes, so a
blocked write alone would notice a device that stopped reading only after they filled.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from protocol.errors import CloseCode
from server.observability.logs import bind
from server.observability.sockets import SocketWatch
from server.ws.device_socket import DeviceSocket
from server.ws.feed_socket import oversize
from server.ws.lean.shared import Shared
from server.ws.wire import InFlight, Wire, start

log = logging.getLogger(__name__)

PARSE_SLICE_BYTES = 4096
PARSE_AHEAD_MESSAGES = 16
"""Messages waiting for the socket at most before reading pauses."""
READ_AFTER_CLOSE_BYTES = 2 * 262_144
"""Bytes a peer may send after the server's close frame before the connection is dropped."""
PROBE_AFTER_BYTES = 4096
"""Bytes sent without a word from the peer after which the delivery probe asks whether it
still reads (a device acknowledges changes as it applies them, which answers them)."""
CLOSE_TIMEOUT_S = 10.0
"""How long the server waits for the peer's reply to its close frame."""

_HELLO, _KEEPALIVE, _PONG_KEEPALIVE, _PONG_PROBE, _CLOSING = range(5)
"""What the connection's one timer is for."""


class DeviceConnection(asyncio.Protocol, Wire):
    """A device socket's transport, RFC 6455 protocol and :class:`DeviceSocket`."""

    __slots__ = (
        "_busy",
        "_deadline",
        "_fragment_is_text",
        "_fragments",
        "_greeted",
        "_listed",
        "_lost",
        "_owed",
        "_pending",
        "_ping",
        "_read_after_close",
        "_read_paused",
        "_request_id",
        "_timer_for",
        "_unparsed",
        "_writable",
        "_write_paused",
        "conn",
        "layer",
        "socket",
        "transport",
        "watch_",
    )

    def __init__(
        self,
        layer: Shared,
        conn: ServerProtocol,
        transport: asyncio.Transport,
        request_id: str,
        make_socket: Callable[[Wire], DeviceSocket],
    ) -> None:
        self.layer = layer
        self.conn = conn
        self.transport = transport
        self._request_id = request_id
        """The upgrade request's id: every log line of the connection carries it."""
        self.watch_ = SocketWatch("device", readings=layer.readings)
        self._busy: asyncio.Task[None] | None = None
        """The task handling a frame that needed the store; None while none does."""
        self._pending: deque[str | bytes] | None = None
        """Messages that arrived while a frame was being handled (made on first use)."""
        self._unparsed: bytearray | None = None
        self._read_paused = False
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None
        """Made while a write waits for the transport's buffer to drain."""
        self._greeted = False
        self._lost = False
        self._read_after_close = 0
        self._ping: bytes | None = None
        """The payload of the ping waiting for its pong."""
        self._owed = 0
        """Bytes written since the peer last showed it reads (a frame or a pong from it)."""
        self._listed = False
        """Whether the connection is listed for the next delivery probe."""
        self._deadline = 0
        """The slot of the connection's one deadline in :class:`Deadlines` (0: none)."""
        self._timer_for = _HELLO
        self._fragments: list[bytes | bytearray | memoryview] | None = None
        """The parts of a fragmented message so far."""
        self._fragment_is_text = True
        self.socket = make_socket(self)

    # ------------------------------------------------------------ start

    def opened(self) -> None:
        """The handshake was answered 101: count the socket and wait for its hello."""
        self.watch_.on_accepted()
        self._arm(_HELLO, self.layer.settings.hello_timeout_s)

    # ------------------------------------------------------------ reading

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn.state is not State.OPEN:
            self._read_after_close += len(data)
            if self._read_after_close > READ_AFTER_CLOSE_BYTES:
                self.transport.close()  # not answering the close: read no more
                return
        if self._unparsed is None:
            if len(data) <= PARSE_SLICE_BYTES:
                conn.receive_data(data)
                self._events()
                return
            else:
                self._unparsed = bytearray(data)
        else:
            self._unparsed += data
        self._parse_some()

    def _parse_some(self) -> None:
        """Parse what was read, a slice at a time, while the socket keeps up."""
        unparsed = self._unparsed
        while unparsed and not self._read_paused and not self.transport.is_closing():
            piece = bytes(unparsed[:PARSE_SLICE_BYTES])
            del unparsed[:PARSE_SLICE_BYTES]
            self.conn.receive_data(piece)
            self._events()
        if not unparsed and self._unparsed is unparsed:
            self._unparsed = None

    def _events(self) -> None:
        conn = self.conn
        for event in conn.events_received():
            if not isinstance(event, Frame):
                continue  # the handshake's request was answered before this connection began
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                self._fragment(event)
            elif opcode is Opcode.PONG:
                self._pong(bytes(event.data))
            elif opcode is Opcode.CLOSE:
                self._close_received()
        self._flush()  # pongs, close replies, a close for a broken protocol
        if conn.close_sent is not None:
            self.watch_.on_close(conn.close_sent.code)
        if conn.close_expected() and not self.transport.is_closing():
            self.transport.close()  # the closing handshake is over (or the peer broke the protocol)

    def _fragment(self, frame: Frame) -> None:
        """Assemble a message; a complete one goes to the socket (text stays bytes until
        the socket reads it: a frame that is not UTF-8 is answered ``malformed_frame``)."""
        if frame.opcode is Opcode.CONT:
            parts = self._fragments
            if parts is None:  # websockets refuses a continuation with no message to continue
                return
            parts.append(frame.data)
        elif frame.fin:
            self._message(frame.data, frame.opcode is Opcode.TEXT)
            return
        else:
            self._fragments = [frame.data]
            self._fragment_is_text = frame.opcode is Opcode.TEXT
            return
        if frame.fin:
            self._fragments = None
            self._message(b"".join(parts), self._fragment_is_text)

    def _message(self, payload: bytes | bytearray | memoryview, is_text: bool) -> None:
        data = bytes(payload)
        if self.socket.closed:  # closed by this side: what the peer sent after is not read
            return
        text: str | bytes = data
        if is_text:
            try:
                text = data.decode()
            except UnicodeDecodeError:
                text = data
        self.watch_.on_received(text if isinstance(text, str) else None)
        self._owed = 0  # it reads: it answers what it was sent
        if self._busy is not None:
            pending = self._pending
            if pending is None:
                pending = self._pending = deque()
            pending.append(text)
            if len(pending) >= PARSE_AHEAD_MESSAGES and not self._read_paused:
                self._read_paused = True
                self.transport.pause_reading()
            return
        self._handle(text)

    def _handle(self, data: str | bytes) -> None:
        """Give a message to the socket; one that needs the store gets a task."""
        too_large = oversize(data)
        if too_large is not None:
            handling: Coroutine[Any, Any, None] | None = self.socket.frame_too_large(too_large)
        elif not self._greeted:
            handling = self._hello(data)
        else:
            try:
                handling = self.socket.frame_arrived(data)
            except Exception:
                self._log_context().run(log.exception, "device socket failed")
                handling = self.socket.close(CloseCode.TRY_AGAIN_LATER, "server error; retry")
        if handling is not None:
            self._busy = self.layer.loop.create_task(self._run(handling), context=self._log_context())

    async def _hello(self, data: str | bytes) -> None:
        self._disarm()
        self._greeted = await self.socket.hello_received(data)
        if self._greeted:
            self._arm(_KEEPALIVE, self.layer.settings.ping_interval_s)

    async def _run(self, handling: Coroutine[Any, Any, None]) -> None:
        """Handle one frame, then those that arrived meanwhile, in order; end when none is left."""
        try:
            await handling
            pending = self._pending
            while pending and not self.socket.closed and not self._lost:
                data = pending.popleft()
                if oversize(data) is not None or not self._greeted:
                    await self._handle_later(data)
                    continue
                following = self.socket.frame_arrived(data)
                if following is not None:
                    await following
        except Exception:
            log.exception("device socket failed")
            await self.socket.close(CloseCode.TRY_AGAIN_LATER, "server error; retry")
        finally:
            self._busy = None
            self._pending = None
            if self._lost:
                self._end_socket()
            elif self._read_paused:
                self._read_paused = False
                self.transport.resume_reading()
                self._parse_some()

    async def _handle_later(self, data: str | bytes) -> None:
        too_large = oversize(data)
        if too_large is not None:
            await self.socket.frame_too_large(too_large)
        elif not self._greeted:
            await self._hello(data)

    def _close_received(self) -> None:
        """The peer's close frame: websockets answers it; the socket is done."""
        received = self.conn.close_rcvd
        self.watch_.on_close(received.code if received is not None else 1005)

    # ------------------------------------------------------------ keepalive and delivery probe

    def _arm(self, purpose: int, delay_s: float) -> None:
        self._disarm()
        self._timer_for = purpose
        if delay_s > 0:
            self._deadline = self.layer.deadlines.set(self, delay_s)

    def _disarm(self) -> None:
        if self._deadline:
            self.layer.deadlines.clear(self, self._deadline)
            self._deadline = 0

    def deadline_reached(self) -> None:
        self._deadline = 0
        self._timer_fired()

    def _timer_fired(self) -> None:
        purpose = self._timer_for
        settings = self.layer.settings
        if purpose == _HELLO:
            self._spawn(self.socket.close(CloseCode.HELLO_TIMEOUT, "no hello in time"))
        elif purpose == _KEEPALIVE:
            self._send_ping(_PONG_KEEPALIVE, settings.ping_timeout_s)
        elif purpose == _PONG_PROBE:
            self._spawn(self.socket.close(CloseCode.SLOW_CONSUMER, "not reading; reconnect and resume"))
        elif purpose == _PONG_KEEPALIVE:
            self._fail(1011, "keepalive ping timeout")
        elif purpose == _CLOSING:
            self._close_timed_out()

    def _send_ping(self, purpose: int, timeout_s: float) -> None:
        if self.conn.state is not State.OPEN:
            return
        payload = os.urandom(4)
        self._ping = payload
        self.conn.send_ping(payload)
        self._flush()
        self._arm(purpose, timeout_s)

    def _pong(self, payload: bytes) -> None:
        if self._ping is None or payload != self._ping:
            return  # unsolicited, or an answer to an earlier ping
        self._ping = None
        self._owed = 0
        if self._greeted:
            self._arm(_KEEPALIVE, self.layer.settings.ping_interval_s)
        else:
            self._disarm()

    def probe(self) -> None:
        """The delivery probe (:meth:`Shared.sweep`): a peer that was sent at least
        :data:`PROBE_AFTER_BYTES` and has not answered anything since is pinged; no pong
        within ``probe_timeout_s`` closes it 4001."""
        self._listed = False
        if self._owed >= PROBE_AFTER_BYTES and self._ping is None and self._greeted:
            self._send_ping(_PONG_PROBE, self.layer.settings.probe_timeout_s)

    # ------------------------------------------------------------ writing (the Wire)

    def write(self, text: str) -> InFlight | None:
        if self._write_paused:
            return start(self._write_when_writable(text))
        self._write(text)
        return None

    def _write(self, text: str) -> None:
        if self.conn.state is not State.OPEN or self.transport.is_closing():
            return
        framed = self.layer.framed.of(text)
        self.transport.write(framed)
        self.watch_.on_sent_text(text)
        self._owed += len(framed)
        if self._owed >= PROBE_AFTER_BYTES and not self._listed:
            self._listed = True
            self.layer.list_for_probe(self)

    async def _write_when_writable(self, text: str) -> None:
        while self._write_paused and not self.transport.is_closing():
            if self._writable is None:
                self._writable = self.layer.loop.create_future()
            await asyncio.shield(self._writable)
        self._write(text)

    async def send_now(self, text: str) -> None:
        self._write(text)

    async def close(self, code: int, reason: str) -> None:
        if self.conn.state is not State.OPEN:
            return
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            return
        self.watch_.on_close(code)
        self._flush()
        self._ping = None
        self._arm(_CLOSING, CLOSE_TIMEOUT_S)  # no keepalive or probe any more

    def _close_timed_out(self) -> None:
        if not self.transport.is_closing():
            self.transport.abort()

    @property
    def watch(self) -> SocketWatch:
        return self.watch_

    def _fail(self, code: int, reason: str) -> None:
        """Close at once (a keepalive the peer did not answer): close frame, then the transport."""
        if self.conn.state is State.OPEN:
            self.conn.fail(code, reason)
            self.watch_.on_close(code)
            self._flush()
        self.transport.close()

    def _flush(self) -> None:
        output = self.conn.data_to_send()
        if output:
            self.transport.write(b"".join(output))

    def _spawn(self, closing: Coroutine[Any, Any, None]) -> None:
        task = self.layer.loop.create_task(closing, context=self._log_context())
        self.layer.chores.add(task)
        task.add_done_callback(self.layer.chores.discard)

    # ------------------------------------------------------------ transport flow

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._disarm()
        self.layer.connections.discard(self)
        self.watch_.on_close(1006)
        self.resume_writing()  # a write waiting for the buffer to drain ends now
        self._unparsed = None
        self._pending = None
        if self._busy is None:
            self._end_socket()

    def _end_socket(self) -> None:
        """The socket is closed or its connection gone, and no frame is being handled: it
        stops sending and, once greeted, is forgotten (registries, presence). Called again
        later, it changes nothing."""
        greeted, self._greeted = self._greeted, False
        if greeted or not self.socket.closed:
            self.socket.ended(greeted)
        if greeted and log.isEnabledFor(logging.DEBUG):
            self._log_context().run(log.debug, "device socket closed with %s", self.watch_.close_code)

    def _log_context(self) -> contextvars.Context:
        """A context whose log lines carry the connection's ids: its request id and, once
        greeted, its tenant, device and carers. Made when needed (a task, a log line), so
        an idle connection holds none."""
        context = contextvars.Context()
        device = self.socket.device
        if device is None:
            context.run(bind, request_id=self._request_id, tenant=None, device=None, carer=None)
        else:
            carers = ",".join(sorted(device.carers)) or None
            context.run(
                bind, request_id=self._request_id, tenant=device.tenant_id, device=device.device_id, carer=carers
            )
        return context

    def eof_received(self) -> bool | None:
        return None

    def shutdown(self) -> None:
        """uvicorn stopping with this connection still open (after the node's drain):
        close 4000 with a reconnect hint, as the drain would have."""
        if self.conn.state is State.OPEN:
            self.conn.send_close(CloseCode.SERVER_SHUTDOWN, self.layer.shutdown_reason())
            self.watch_.on_close(CloseCode.SERVER_SHUTDOWN)
            self._flush()
        self.transport.close()
