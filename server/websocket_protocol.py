"""The WebSocket protocol for uvicorn: text messages that are not UTF-8 reach the app.

uvicorn's websockets (sans-I/O) protocol decodes each text message itself; one that is not
UTF-8 is logged as an ERROR with a traceback and the socket is closed with 1007. The
protocol (docs/protocol.md, section 7.1) answers such a frame with ``malformed_frame`` and
keeps the socket open, so :class:`LenientTextWebSocketProtocol` hands it to the app as
bytes instead, where the frame decoder refuses it like any other frame it cannot read.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LenientTextWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, passing undecodable text messages on as bytes."""

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not _is_utf8(self.frames):
            self.curr_msg_data_type = "bytes"
        super().send_receive_event_to_app()


def _is_utf8(fragments: list[bytes]) -> bool:
    data = fragments[0] if len(fragments) == 1 else b"".join(fragments)
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True
