"""What the lean device layer takes from websockets beyond its documented sans-I/O API,
checked by name: server/ws/lean/layer.py replaces a fresh ``ServerProtocol``'s request
parser with the frame parser of its base class (``Protocol.parse``, primed as websockets
primes its own). pyproject.toml bounds websockets above the newest release tested; when a
release changes this, this test says what changed instead of a handshake failing."""

from __future__ import annotations

import inspect

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from server.ws.lean.layer import MAX_MESSAGE_BYTES, frames_after_handshake


def test_a_protocol_keeps_its_parser_as_a_generator_attribute() -> None:
    protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
    assert inspect.isgenerator(protocol.parser), "ServerProtocol.parser is no longer a generator"
    assert inspect.isgeneratorfunction(Protocol.parse), "Protocol.parse is no longer a generator function"


def test_frames_are_read_from_the_start_once_the_parser_is_replaced() -> None:
    protocol = frames_after_handshake(ServerProtocol(max_size=MAX_MESSAGE_BYTES))
    assert protocol.state is State.CONNECTING
    protocol.state = State.OPEN  # as send_response(101) leaves it
    protocol.receive_data(Frame(Opcode.TEXT, b'{"type":"heartbeat"}').serialize(mask=True))
    events = protocol.events_received()
    assert len(events) == 1 and isinstance(events[0], Frame)
    assert events[0].data == b'{"type":"heartbeat"}'
