"""Probes tell the outside world only whether the node is up; node ids, session counts,
failure reasons and metrics are for internal networks (loopback by default)."""

from __future__ import annotations

from tests.conftest import RunningServer

OUTSIDE = {"x-forwarded-for": "203.0.113.7"}
"""A caller on the internet, as forwarded by the (trusted, loopback) proxy."""


async def test_outside_callers_see_only_the_status(running: RunningServer) -> None:
    async with running.http() as http:
        assert (await http.get("/healthz", headers=OUTSIDE)).json() == {"status": "ok"}
        assert (await http.get("/livez", headers=OUTSIDE)).json() == {"status": "ok"}
        assert (await http.get("/readyz", headers=OUTSIDE)).json() == {"status": "ok"}
        assert (await http.get("/metrics", headers=OUTSIDE)).status_code == 404


async def test_internal_callers_see_the_figures(running: RunningServer) -> None:
    async with running.http() as http:
        health = (await http.get("/healthz")).json()
        assert health["node"] == running.node.node_id and "sessions" in health
        assert (await http.get("/metrics")).status_code == 200
