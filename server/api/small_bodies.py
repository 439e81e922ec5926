"""Bodies of endpoints whose input is small (sign-in), held to a limit of their own.

The node-wide limit is the largest legitimate body, a device's sync request (256 KiB). A
sign-in needs a few hundred bytes; refusing a larger one from its ``Content-Length``,
before anything is read, means a flood of 200 KB anonymous sign-ins costs the node no
reading, decoding or copying of them (docs/security.md). The refusal closes the
connection, so the unread body is not read to find the next request either.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.api.request_guards import BodyTooLarge

SIGN_IN_BODY_BYTES = 16 * 1024
"""A sign-in body at most: a 200-character login and a 1,024-character password, each
character escaped in JSON (6 bytes), with room to spare."""


def declared_over(request: Request, limit: int) -> bool:
    """Whether the request says (``Content-Length``) its body is over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def read_small(request: Request, limit: int) -> bytes:
    """The body; :class:`BodyTooLarge` (413) from its declared length, or as soon as what
    arrives passes ``limit``."""
    if declared_over(request, limit):
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def closing(response: Response) -> Response:
    """``response``, closing the connection after it (the body it refuses was not read)."""
    response.headers["connection"] = "close"
    return response
