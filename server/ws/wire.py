"""How a socket's frames reach its peer, whatever carries them.

A :class:`FeedSocket` and its streamer speak to a :class:`Wire`: write a text frame,
send one at once, close. Two carry them: :class:`AsgiWire`, a Starlette ``WebSocket``
under uvicorn's stock WebSocket protocol (the console socket), and the lean device
connection (:mod:`server.ws.lean.connection`), which writes frames straight to its
transport.

A write returns None when the frame left without waiting (the common case), or the send
that has to wait for the peer (an :data:`InFlight`), which the streamer finishes within
its stall limit. No coroutine is made for a write that does not wait.
"""

from __future__ import annotations

import abc
from collections.abc import Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from server.observability.sockets import SocketWatch, watch_of

Send = Coroutine[Any, Any, None]
InFlight = tuple[Send, Any]
"""A send that suspended: its coroutine and what it is waiting on (the future it yielded)."""


def start(send: Send) -> InFlight | None:
    """Run ``send`` until it first suspends; None if it completed without suspending."""
    try:
        waiting = send.send(None)
    except StopIteration:
        return None
    return send, waiting


class Wire(abc.ABC):
    """One socket's way to its peer."""

    __slots__ = ()

    @abc.abstractmethod
    def write(self, text: str) -> InFlight | None:
        """Send a text frame behind those already written: None when it left at once,
        else the send still waiting for the peer to read (finish it before the next)."""

    @abc.abstractmethod
    async def send_now(self, text: str) -> None:
        """Send a text frame now (an error frame ahead of a close)."""

    @abc.abstractmethod
    async def close(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` (nothing if it is closed already)."""

    @property
    @abc.abstractmethod
    def watch(self) -> SocketWatch | None:
        """The socket's traffic bookkeeping (metrics, unanswered sync requests), if counted."""


class SendMessages:
    """The ASGI send messages of one hub's sockets: a fan-out hands every socket the same
    text object, so one message is made for all of them (the last one is remembered;
    uvicorn and the socket metrics only read it)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, Any] = {"type": "websocket.send", "text": None}

    def of(self, text: str) -> dict[str, Any]:
        message = self._last
        if message["text"] is not text:
            message = self._last = {"type": "websocket.send", "text": text}
        return message


class AsgiWire(Wire):
    """A Starlette ``WebSocket``: frames go out as ASGI messages through uvicorn."""

    __slots__ = ("messages", "ws")

    def __init__(self, ws: WebSocket, messages: SendMessages) -> None:
        self.ws = ws
        self.messages = messages

    def write(self, text: str) -> InFlight | None:
        return start(self.ws.send(self.messages.of(text)))

    async def send_now(self, text: str) -> None:
        await self.ws.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            await self.ws.close(code=code, reason=reason)

    @property
    def watch(self) -> SocketWatch | None:
        return watch_of(self.ws.scope)
