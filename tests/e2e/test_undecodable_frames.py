"""A device that receives a frame it cannot decode (a shape this app version does not
know, a corrupt frame) neither crashes its connection nor skips what the frame may have
carried: it clean-syncs the feed the frame named and ends level with the server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from client_sdk import link
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import FeedPosition, ServerFrame
from server.clock import to_datetime
from server.seeding import seed_agency
from server.services.rota import NewTask
from tests.conftest import RunningServer
from tests.support import device_matches_server, eventually, make_device


async def test_an_undecodable_change_becomes_a_clean_sync_of_its_feed(
    running: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1, day=to_datetime(node.clock.now_ms()))
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    cleaned: list[list[str] | None] = []
    clean_sync = device.clean_sync

    async def counted(feeds: list[str] | None = None, *, force: bool = False) -> dict[str, FeedPosition]:
        cleaned.append(feeds)
        return await clean_sync(feeds, force=force)

    device.clean_sync = counted  # type: ignore[method-assign]
    decode = link.decode_server_frame
    spoiled: list[str] = []

    def unreadable_first_change(raw: bytes | str) -> ServerFrame:
        text = raw.decode() if isinstance(raw, bytes) else raw
        if '"type":"change"' in text and not spoiled:
            spoiled.append(text)
            raise ProtocolError(ErrorCode.INVALID_FRAME, "a payload kind this app does not know")
        return decode(raw)

    monkeypatch.setattr(link, "decode_server_frame", unreadable_first_change)
    try:
        start = to_datetime(node.clock.now_ms()) + timedelta(hours=3)
        view = await node.rota.create_visit(
            agency.admin,
            client_id=agency.client_ids[0],
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            carer_ids=[carer.id],
            tasks_=[NewTask("Lunch")],
        )
        await eventually(lambda: cleaned == [[carer.id]])
        await eventually(lambda: device.store.visit(carer.id, view.id) is not None)
        assert spoiled and device.link.connected.is_set(), "the socket stayed up"
        assert await device_matches_server(device, node, agency.admin, carer.id)
    finally:
        await device.stop()
