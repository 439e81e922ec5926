"""The adapter side of the contract: read requests line by line on stdin, answer on stdout.

``serve(handlers)`` answers ``{"id": n, "op": name, ...}`` with
``{"id": n, "ok": true, ...the handler's fields}``, or ``{"id": n, "ok": false, "error": ...}``
when the op is unknown or its handler raised. Requests are answered one at a time, in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
STOP_OP = "stop"


async def serve(handlers: dict[str, Handler]) -> None:
    """Answer requests until ``stop`` has been answered or stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            request = json.loads(line)
        except ValueError:
            continue
        answer = await _answer(handlers, request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if request.get("op") == STOP_OP:
            return


async def _answer(handlers: dict[str, Handler], request: dict[str, Any]) -> dict[str, Any]:
    request_id = request.get("id")
    handler = handlers.get(str(request.get("op")))
    if handler is None:
        return {"id": request_id, "ok": False, "error": f"unsupported op {request.get('op')!r}"}
    try:
        fields = await handler(request)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"id": request_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"id": request_id, "ok": True, **fields}
