"""Where a console page starts following the live feed (``/ws/console``): the heads of the
feeds the staff member follows, read **before** the page's data, so the page's script gets
every event after what it shows (an event in between is replayed, and applying one twice
is harmless) and none before."""

from __future__ import annotations

import msgspec

from protocol.frames import FeedPosition
from server.node import Node
from server.services import feeds
from server.services.console_feed import visible_scopes
from server.services.identity import Staff


async def live_positions(node: Node, staff: Staff) -> dict[str, FeedPosition]:
    async with node.db.write() as conn:  # creates a scope's feed the first time it is followed
        scopes = await visible_scopes(conn, staff)
    async with node.db.read() as conn:
        heads = await feeds.heads(conn, list(scopes), feeds.CONSOLE)
    return {s: FeedPosition(feed=s, epoch=h.epoch, seq=h.seq) for s, h in heads.items()}


async def live_positions_json(node: Node, staff: Staff) -> str:
    """:func:`live_positions` as the JSON a page hands its script (``data-live-positions``)."""
    return msgspec.json.encode(await live_positions(node, staff)).decode()
