"""A loopback TCP proxy between the node and the client under test, which the kit controls.

It relays the HTTP upgrade as bytes, then WebSocket frames one whole frame at a time, so
it can log every frame (:mod:`server.conformance.frame_log`), drop, duplicate, delay or
rewrite what the node sends, inject frames of its own, cut a frame halfway, cut every
connection, and refuse new ones (the network is down). Plain HTTP calls (the fallback
transport) are relayed untouched and noted. The node behind it may be restarted on
another port: :attr:`FaultProxy.target_port` follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

from websockets.exceptions import ProtocolError
from websockets.frames import Close, Frame, Opcode

from server.conformance.faults import Faults
from server.conformance.frame_log import Direction, FrameLog, json_object
from server.conformance.wire import HEADER_END, FrameReader, is_websocket_upgrade, text_frame

READ_BYTES = 65536
UPSTREAM_WAIT_S = 30.0


@dataclass
class Relay:
    """One client connection and its upstream twin."""

    number: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    websocket: bool = False
    open: bool = True
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        self.open = False
        for writer in (self.client, self.upstream):
            writer.transport.abort()


class FaultProxy:
    def __init__(self, log: FrameLog, target_port: int) -> None:
        self.log = log
        self.target_port = target_port
        self.faults = Faults()
        self.relays: list[Relay] = []
        self.upstream_ready = asyncio.Event()
        """Cleared while the node restarts: new connections wait for it, as behind a load
        balancer that sends them to the node that is up."""
        self.upstream_ready.set()
        self._server: asyncio.Server | None = None
        self._connections = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        self.port = port
        return port

    async def stop(self) -> None:
        self.cut_all("kit stopping")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for relay in self.relays:
            for task in relay.tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ------------------------------------------------------------ what the kit asks

    @property
    def websocket_connections(self) -> int:
        """WebSocket connections the client opened so far."""
        return sum(1 for r in self.relays if r.websocket)

    @property
    def connections_tried(self) -> int:
        """TCP connections the client opened so far, the refused ones included."""
        return self._connections

    def open_websockets(self) -> list[Relay]:
        return [r for r in self.relays if r.websocket and r.open]

    def cut_all(self, why: str) -> None:
        """Drop every open connection without a close frame (a lost network)."""
        for relay in self.relays:
            if relay.open:
                self.log.note(relay.number, f"connection cut: {why}")
                relay.abort()

    def silence_open(self) -> list[int]:
        """From now on pass nothing from the node on the connections open now; return them."""
        numbers = [relay.number for relay in self.open_websockets()]
        self.faults.silenced.update(numbers)
        for number in numbers:
            self.log.note(number, "the node's side goes silent (nothing more passes)")
        return numbers

    def inject(self, text: str) -> int:
        """Send ``text`` to the client on every open WebSocket as if the node had; return how many."""
        sent = 0
        for relay in self.open_websockets():
            self.log.add("proxy", relay.number, text)
            relay.client.write(text_frame(text, masked=False))
            sent += 1
        return sent

    async def close_as_node(self, code: int, reason: str) -> int:
        """Close every open WebSocket to the client with ``code`` and ``reason``, as if the
        node had, and cut its upstream twin; return how many were closed."""
        closed = 0
        for relay in self.open_websockets():
            relay.open = False
            relay.upstream.transport.abort()
            self.log.note(relay.number, f"proxy closed the WebSocket: {code} {reason!r}")
            relay.client.write(Frame(Opcode.CLOSE, Close(code, reason).serialize()).serialize(mask=False))
            with contextlib.suppress(OSError, ConnectionError):
                await relay.client.drain()
            relay.client.close()
            closed += 1
        return closed

    # ------------------------------------------------------------ relaying

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        if self.faults.refusing:
            self.log.note(number, "connection refused (network down)")
            client_out.transport.abort()
            return
        try:
            async with asyncio.timeout(UPSTREAM_WAIT_S):
                await self.upstream_ready.wait()
            upstream_in, upstream_out = await asyncio.open_connection("127.0.0.1", self.target_port)
        except (OSError, TimeoutError) as exc:
            self.log.note(number, f"node unreachable: {exc}")
            client_out.transport.abort()
            return
        relay = Relay(number, client_out, upstream_out)
        self.relays.append(relay)
        relay.tasks = [
            asyncio.create_task(self._pump(relay, client_in, upstream_out, "device")),
            asyncio.create_task(self._pump(relay, upstream_in, client_out, "server")),
        ]

    async def _pump(
        self, relay: Relay, source: asyncio.StreamReader, sink: asyncio.StreamWriter, direction: Direction
    ) -> None:
        try:
            head, rest = await _read_head(source)
            if direction == "device" and is_websocket_upgrade(head):
                relay.websocket = True
                self.log.note(relay.number, "WebSocket connection opened")
            elif direction == "device":
                self.log.note(relay.number, "HTTP " + head.split(b"\r\n", 1)[0].decode(errors="replace"))
            sink.write(head)
            if not relay.websocket:
                if direction == "device":
                    rest = await self._http_requests(relay, source, sink, head, rest)
                await _pipe(source, sink, rest)
                return
            await self._frames(relay, source, sink, direction, rest)
        except (OSError, asyncio.IncompleteReadError, ProtocolError, ConnectionError):
            pass
        finally:
            if relay.open:
                relay.abort()

    async def _http_requests(
        self, relay: Relay, source: asyncio.StreamReader, sink: asyncio.StreamWriter, head: bytes, rest: bytes
    ) -> bytes:
        """Relay the body of the request whose ``head`` was passed on, then each request that
        follows it on the kept-alive connection, noting each; return what is left to pipe as
        it is (once a request has no ``Content-Length``)."""
        buffered = rest
        while (length := _content_length(head)) is not None:
            while len(buffered) < length:
                if not (chunk := await source.read(READ_BYTES)):
                    return buffered
                buffered += chunk
            sink.write(buffered[:length])
            buffered = buffered[length:]
            while HEADER_END not in buffered:
                if not (chunk := await source.read(READ_BYTES)):
                    return buffered
                buffered += chunk
            end = buffered.index(HEADER_END) + len(HEADER_END)
            head, buffered = buffered[:end], buffered[end:]
            self.log.note(relay.number, "HTTP " + head.split(b"\r\n", 1)[0].decode(errors="replace"))
            sink.write(head)
        return buffered

    async def _frames(
        self,
        relay: Relay,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: Direction,
        rest: bytes,
    ) -> None:
        reader = FrameReader(masked=direction == "device")
        data = rest
        while True:
            for frame in reader.feed(data):
                if not await self._pass(relay, frame, sink, direction):
                    return
            data = await source.read(READ_BYTES)
            if not data:
                return

    async def _pass(self, relay: Relay, frame: Frame, sink: asyncio.StreamWriter, direction: Direction) -> bool:
        """Relay one frame, applying the faults; False once the connection is gone."""
        masked = direction == "device"
        if direction == "server" and relay.number in self.faults.silenced:
            return relay.open
        if frame.opcode == Opcode.CLOSE:
            close = Close.parse(frame.data) if frame.data else None
            said = f"{close.code} {close.reason!r}" if close else "no code"
            self.log.note(relay.number, f"{direction} closed the WebSocket: {said}")
            sink.write(frame.serialize(mask=masked))
            return True
        if frame.opcode != Opcode.TEXT or not relay.open:
            sink.write(frame.serialize(mask=masked))
            return relay.open
        text = bytes(frame.data).decode(errors="replace")
        if direction == "device":
            seen = self.log.add("device", relay.number, text)
            sink.write(text_frame(text, masked=True))
            for hook in list(self.faults.on_device_frame):
                hook(seen)
            return relay.open
        return await self._pass_down(relay, text, sink)

    async def _pass_down(self, relay: Relay, text: str, sink: asyncio.StreamWriter) -> bool:
        faults = self.faults
        if faults.delay_s:
            await asyncio.sleep(faults.delay_s)
        body = json_object(text)
        if faults.take_drop(body) or (body is not None and body.get("type") in faults.drop_types):
            self.log.note(relay.number, f"dropped a frame from the node: {text}")
            return True
        seen = self.log.add("server", relay.number, text)
        if faults.rewrite is not None and seen.body is not None:
            text = json.dumps(faults.rewrite(seen.body), separators=(",", ":"))
            self.log.add("proxy", relay.number, text)
        data = text_frame(text, masked=False)
        if faults.cut_mid_frame:
            faults.cut_mid_frame = False
            sink.write(data[: len(data) // 2])
            self.log.note(relay.number, "connection cut halfway through the frame above")
            await sink.drain()
            relay.abort()
            return False
        sink.write(data)
        if faults.take_duplicate(seen.body):
            self.log.note(relay.number, "sent the change above twice")
            sink.write(data)
        for hook in list(faults.on_server_frame):
            hook(seen)
        return relay.open


async def _read_head(source: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """An HTTP head (through its blank line) and whatever bytes came after it."""
    buffered = b""
    while HEADER_END not in buffered:
        chunk = await source.read(READ_BYTES)
        if not chunk:
            raise asyncio.IncompleteReadError(buffered, None)
        buffered += chunk
    end = buffered.index(HEADER_END) + len(HEADER_END)
    return buffered[:end], buffered[end:]


def _content_length(head: bytes) -> int | None:
    """A request head's ``Content-Length`` (0 when it has none and is not chunked), or None."""
    fields = [line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line]
    named = {name.strip().lower(): value.strip() for name, value in fields}
    if b"transfer-encoding" in named:
        return None
    value = named.get(b"content-length", b"0")
    return int(value) if value.isdigit() else None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, first: bytes) -> None:
    if first:
        sink.write(first)
    while chunk := await source.read(READ_BYTES):
        sink.write(chunk)
        await sink.drain()
