"""The conformance adapter of the Python SDK (``client_sdk``)::

    caresync conformance --client "python -m server.conformance.adapters.python_sdk {url} {token} {uuid} {state_dir}"

It drives a :class:`client_sdk.Device` whose local store lives in ``state_dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, Literal

from client_sdk import Device, SyncSummary, enrol
from client_sdk.link import http_base
from client_sdk.local_store import LocalStore
from protocol.frames import FeedPosition
from server.conformance.adapters.lines import Handler, serve

STORE_FILE = "device.db"
TOKEN_FILE = "token"
"""The token the client enrolled for, kept beside its store (an app keeps it in the
platform's secure storage); it wins over the one the kit started the adapter with."""
SYNC_TIMEOUT_S = 15.0


class SdkClient:
    """The ops of the contract, over one SDK device (rebuilt after ``offline``)."""

    def __init__(self, url: str, token: str, device_uuid: str, state_dir: Path) -> None:
        self.url = url
        self.device_uuid = device_uuid
        self.state_dir = state_dir
        self.token = self.stored_token() or token
        self.device: Device | None = None

    def stored_token(self) -> str | None:
        path = self.state_dir / TOKEN_FILE
        if not path.exists():
            return None
        return path.read_text().strip() or None

    def store_token(self, token: str) -> None:
        """Durably, before it is used: write aside, flush to disk, rename over."""
        path = self.state_dir / TOKEN_FILE
        aside = path.with_suffix(".new")
        with aside.open("w") as file:
            file.write(token)
            file.flush()
            os.fsync(file.fileno())
        aside.replace(path)

    def build(self, transport: Literal["socket", "http"] = "socket") -> Device:
        """The SDK device, on the state directory's store."""
        return Device(self.url, self.token, self.device_uuid, self.state_dir / STORE_FILE, transport=transport)

    def handlers(self) -> dict[str, Handler]:
        return {
            "start": self.start,
            "state": self.state,
            "record": self.record,
            "sync": self.sync,
            "clean_sync": self.clean_sync,
            "enrol": self.enrol,
            "awaiting_seen": self.awaiting_seen,
            "acknowledge": self.acknowledge,
            "offline": self.offline,
            "online": self.start,
            "stop": self.stop,
        }

    async def start(self, _request: dict[str, Any]) -> dict[str, Any]:
        if self.device is None:
            self.device = self.build()
            await self.device.start(wait=False)
        return {}

    def _running(self) -> Device:
        if self.device is None:
            raise RuntimeError("the client is not started (or is offline)")
        return self.device

    async def state(self, _request: dict[str, Any]) -> dict[str, Any]:
        device = self.device
        if device is None:
            store = LocalStore(self.state_dir / STORE_FILE)
            try:
                return {"connected": False, **_held(store), "stopped": None}
            finally:
                store.close()
        stopped = device.stopped_by
        return {
            "connected": device.connected.is_set(),
            **_held(device.store),
            "stopped": None if stopped is None else {"code": stopped.code, "reason": stopped.reason},
        }

    async def record(self, request: dict[str, Any]) -> dict[str, Any]:
        device = self.device or self.build()
        carer, visit = str(request["carer_id"]), str(request["visit_id"])
        kind = request["kind"]
        if kind == "check_in":
            mutation_id = device.check_in(carer, visit)
        elif kind == "check_out":
            mutation_id = device.check_out(carer, visit)
        elif kind == "task_outcome":
            mutation_id = device.record_task(carer, visit, str(request["task_id"]), bool(request["done"]))
        elif kind == "visit_note":
            mutation_id = device.add_note(carer, visit, str(request["text"]))
        else:
            raise ValueError(f"unknown kind {kind!r}")
        if self.device is None:
            device.store.close()
        return {"mutation_id": mutation_id}

    async def awaiting_seen(self, _request: dict[str, Any]) -> dict[str, Any]:
        device = self.device or self.build()
        changes = [{"feed": a.feed, "epoch": a.epoch, "seq": a.seq} for a in device.awaiting_seen()]
        if self.device is None:
            device.store.close()
        return {"changes": changes}

    async def acknowledge(self, _request: dict[str, Any]) -> dict[str, Any]:
        """The carer saw every change awaiting it; while offline it is only stored."""
        if self.device is not None:
            return {"recorded": await self.device.acknowledge(timeout=SYNC_TIMEOUT_S)}
        device = self.build()
        try:
            await device.acknowledge(send=False)
        finally:
            device.store.close()
        return {"recorded": 0}

    async def sync(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("transport", "socket") == "http":
            summary = await self._sync_over_http()
        else:
            summary = await self._running().sync(timeout=SYNC_TIMEOUT_S)
        return {
            "results": [{"mutation_id": r.mutation_id, "status": r.status, "reason": r.reason} for r in summary.results]
        }

    async def _sync_over_http(self) -> SyncSummary:
        """A standard sync over the HTTP fallback alone, while offline (no socket is opened)."""
        if self.device is not None:
            raise RuntimeError("an HTTP-only sync is asked while offline")
        device = self.build(transport="http")
        try:
            return await device.sync(timeout=SYNC_TIMEOUT_S)
        finally:
            await device.stop()

    async def clean_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("transport", "socket") == "http":
            done = await self._clean_sync_over_http()
        else:
            done = await self._running().clean_sync(force=True)
        return {"feeds": [{"feed": p.feed, "epoch": p.epoch, "seq": p.seq} for p in done.values()]}

    async def _clean_sync_over_http(self) -> dict[str, FeedPosition]:
        """A clean sync over the HTTP fallback alone, while offline (no socket is opened)."""
        if self.device is not None:
            raise RuntimeError("an HTTP-only clean sync is asked while offline")
        device = self.build(transport="http")
        try:
            return await device.clean_sync(force=True)
        finally:
            await device.stop()

    async def enrol(self, request: dict[str, Any]) -> dict[str, Any]:
        """Enrol again with a one-time code: keep the store, store the new token, start."""
        was_running = self.device is not None
        await self.offline(request)
        enrolled = await enrol(http_base(self.url), str(request["code"]), self.device_uuid)
        self.store_token(enrolled.token)
        self.token = enrolled.token
        if was_running or request.get("start", True):
            await self.start(request)
        return {}

    async def offline(self, _request: dict[str, Any]) -> dict[str, Any]:
        """The phone lost signal: no socket and no calls until ``online``; the store stays."""
        if self.device is not None:
            await self.device.stop()
            self.device = None
        return {}

    async def stop(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.offline(request)


def _held(store: LocalStore) -> dict[str, Any]:
    """What ``state`` reports from the store: positions, visits, the outbox."""
    positions = store.positions()
    return {
        "feeds": [{"feed": p.feed, "epoch": p.epoch, "seq": p.seq} for p in positions],
        "visits": [
            {"feed": p.feed, "id": visit.id, "version": visit.version}
            for p in positions
            for visit in store.visits(p.feed)
        ],
        "outbox": store.pending_count(),
    }


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("uuid")
    parser.add_argument("state_dir", type=Path)
    return parser.parse_args(argv)


def main(client_type: type[SdkClient] = SdkClient, argv: list[str] | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    args = arguments(argv)
    client = client_type(args.url, args.token, args.uuid, args.state_dir)
    asyncio.run(serve(client.handlers()))


if __name__ == "__main__":
    main()
