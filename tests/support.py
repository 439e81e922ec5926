"""Helpers shared by tests."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from client_sdk import Device
from client_sdk.backoff import Backoff
from server.seeding import SeededCarer
from server.node import Node
from server.store.schema import device_acks
from tests.conftest import RunningServer


async def acked_seq(node: Node, device_id: str, carer_id: str) -> int | None:
    """The ack position recorded in the store (not in memory) for a device and feed."""
    async with node.db.read() as conn:
        row = (
            await conn.execute(
                select(device_acks.c.seq).where(
                    device_acks.c.device_id == device_id, device_acks.c.carer_id == carer_id
                )
            )
        ).first()
    return None if row is None else int(row.seq)


async def eventually(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is truthy; fail with a clear message after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def make_device(running: RunningServer, carer: SeededCarer, tmp_path: Path, *, start: bool = True) -> Device:
    device = Device(
        running.ws_url,
        carer.device_token,
        carer.device_uuid,
        tmp_path / f"{carer.device_uuid}.db",
        backoff=Backoff(base_s=0.05, cap_s=0.5),
    )
    if start:
        await device.start()
    return device
