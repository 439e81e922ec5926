"""Health endpoints: ``/livez`` (the process answers) and ``/readyz`` (send it traffic).

``/readyz`` answers 503 naming each failing dependency: the database (a ``SELECT 1``),
the bus (its ``ping``), or the node itself while it drains. Probes only read: nothing
they report is reset by reading it, so Docker, the load balancer and Prometheus can all
probe the same node.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.http import json_response
from server.api.request_guards import internal_caller
from server.node import Node

PROBE_TIMEOUT_S = 2.0
"""A dependency slower than this to answer counts as unreachable."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:200] if first else type(exc).__name__


async def _check_database(node: Node) -> str | None:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), node.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return _reason(exc)
    return None


async def _check_bus(node: Node) -> str | None:
    if not getattr(node.bus, "is_healthy", True):  # the bus knows it is reconnecting
        return f"bus is {getattr(node.bus, 'state', 'unhealthy')}"
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await node.bus.ping()
    except Exception as exc:
        return _reason(exc)
    return None


async def failing(node: Node) -> dict[str, str]:
    """Each failing dependency with what is wrong; empty when the node is ready."""
    database, bus = await asyncio.gather(_check_database(node), _check_bus(node))
    found = {name: reason for name, reason in (("database", database), ("bus", bus)) if reason}
    if node.draining:
        found["node"] = "draining: shutting down, reconnect elsewhere"
    return found


def _who(request: Request, node: Node) -> dict[str, str]:
    """The node id, for internal callers only (docs/security.md)."""
    return {"node": node.node_id} if internal_caller(request) else {}


async def livez(request: Request) -> Response:
    node: Node = request.app.state.node
    return json_response({"status": "ok", **_who(request, node)})


async def readyz(request: Request) -> Response:
    node: Node = request.app.state.node
    problems = await failing(node)
    if problems:
        if not internal_caller(request):
            problems = dict.fromkeys(problems, "failing")  # what failed, not how (hosts, errors)
        return json_response({"status": "unavailable", **_who(request, node), "failing": problems}, 503)
    return json_response({"status": "ok", **_who(request, node)})


async def healthz(request: Request) -> Response:
    """The original probe, kept for existing scripts: liveness plus, for internal callers
    only, a few figures (read-only)."""
    node: Node = request.app.state.node
    if not internal_caller(request):
        return json_response({"status": "ok"})
    return json_response(
        {
            "status": "ok",
            "node": node.node_id,
            "sessions": node.hub.session_count,
            "loop_lag_max_ms": round(node.loop_lag_max_ms, 1),
            "slow_consumers_closed": slow_consumers_closed(),
        }
    )


def slow_consumers_closed() -> int:
    from server.observability.instruments import SLOW_CONSUMER_CLOSES

    total = 0.0
    for metric in SLOW_CONSUMER_CLOSES.collect():
        total += sum(sample.value for sample in metric.samples if sample.name.endswith("_total"))
    return int(total)


routes = [Route("/livez", livez), Route("/readyz", readyz), Route("/healthz", healthz)]
