"""A client with one seeded bug, to prove that the kit catches each class of bug and names
the right case::

    caresync conformance --client \\
        "python -m server.conformance.adapters.broken --bug ignores-gaps {url} {token} {uuid} {state_dir}"

The bugs (``--bug``), and the cases they must fail (tests/server/conformance/):

- ``ack-before-apply``: acks a change as it arrives and applies it a moment later;
- ``ignores-gaps``: drops a change past a gap and ignores heartbeat heads, never repairing
  (nor following an epoch reset a heartbeat announces);
- ``reconnects-after-terminal``: starts again whenever it was closed for good (4100, 4101);
- ``loses-outbox-on-kill``: keeps its outbox in memory, so a kill loses what was recorded;
- ``keeps-data-on-reset``: on an epoch reset moves to the new epoch but keeps the old visits;
- ``ignores-resync-in-sync-response``: clean-syncs on ``resync_required`` and ``welcome``
  only, never for a feed a ``sync_response`` lists in ``resync``;
- ``ignores-close-waits``: reconnects with its backoff alone after any close, ignoring the
  wait a 4000 (``reconnect_after_ms``) or 4003 (``retry in N s``) names.
- ``skips-http-acks``: after a sync over HTTP never reports the positions it brought
  (``POST /api/v1/device/ack``);
- ``ignores-frame-limit``: fills a ``sync_request`` with 200 mutations whatever their size;
- ``forgets-enrolled-token``: keeps the token it enrolled for in memory only, so a restart
  connects with the revoked one;
- ``ignores-silence``: trusts a socket however long nothing arrives on it;
- ``hammers-reconnects``: dials again every 100 ms whatever happened (a SHOULD);
- ``forgets-seen-offline``: keeps what the carer acknowledged while offline in memory only,
  so a kill loses it and the node never records it;
- ``ignores-marked-changes``: judges acknowledgement by the window alone, as if no change
  carried ``visit_upsert.needs_seen`` (a SHOULD).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
from typing import Any, Literal

import msgspec

import client_sdk.device
from client_sdk import Device
from client_sdk.link import Link
from protocol.device_session import DeviceCommand, ResetFeed
from protocol.frames import Ack, Change, Heartbeat, ServerFrame, SyncResponse, VisitUpsert
from server.conformance.adapters.python_sdk import STORE_FILE, SdkClient, main

APPLY_LAG_S = 0.3
"""How long the ``ack-before-apply`` client takes to apply what it already acked."""
RESTART_AFTER_TERMINAL_S = 0.2
HAMMER_DELAY_S = 0.1


class AckBeforeApply(Device):
    async def _on_change(self, change: Change) -> None:
        await self.link.send(Ack(feed=change.feed, epoch=change.epoch, seq=change.seq))
        await asyncio.sleep(APPLY_LAG_S)
        await super()._on_change(change)


class IgnoresGaps(Device):
    async def _on_change(self, change: Change) -> None:
        stored = self.store.position(change.feed)
        if stored is not None and change.epoch == stored.epoch and change.seq > stored.seq + 1:
            return
        await super()._on_change(change)

    async def _on_frame(self, frame: ServerFrame) -> None:
        if not isinstance(frame, Heartbeat):
            await super()._on_frame(frame)


class KeepsDataOnReset(Device):
    async def _run(
        self,
        commands: list[DeviceCommand],
        changes: dict[tuple[str, int, int], Change] | None = None,
        names: dict[str, str] | None = None,
    ) -> int:
        for command in commands:
            if isinstance(command, ResetFeed):
                with self.store._transaction() as db:
                    db.execute("UPDATE feeds SET epoch = ?, seq = 0 WHERE feed = ?", (command.epoch, command.feed))
        kept: list[DeviceCommand] = [command for command in commands if not isinstance(command, ResetFeed)]
        return await super()._run(kept, changes, names)


class IgnoresMarkedChanges(Device):
    async def _on_change(self, change: Change) -> None:
        if isinstance(change.payload, VisitUpsert) and change.payload.needs_seen:
            change = msgspec.structs.replace(change, payload=VisitUpsert(visit=change.payload.visit))
        await super()._on_change(change)


class IgnoresResyncInSyncResponse(Device):
    async def _apply_response(self, response: SyncResponse) -> int:
        return await super()._apply_response(msgspec.structs.replace(response, resync=[]))


class BackoffOnlyLink(Link):
    def _delay_after(self, code: int, reason: str) -> float:
        return self.backoff.next_delay()


class DeafLink(Link):
    def welcomed(self, heartbeat_interval_s: float | None) -> None:
        super().welcomed(None)


class HammeringLink(Link):
    def _delay_after(self, code: int, reason: str) -> float:
        return HAMMER_DELAY_S


class OtherLinkDevice(Device):
    """A device whose link is of ``link_type`` (set by the subclasses)."""

    link_type: type[Link] = Link

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self.link
        self.link = self.link_type(old.urls, old.http_url, old.token, old.hello, old.on_frame, old.backoff)
        self.link.on_undecodable = old.on_undecodable


class IgnoresCloseWaits(OtherLinkDevice):
    link_type = BackoffOnlyLink


class IgnoresSilence(OtherLinkDevice):
    link_type = DeafLink


class HammersReconnects(OtherLinkDevice):
    link_type = HammeringLink


class SkipsHttpAcks(Device):
    async def _report_acks(self, timeout: float) -> None:
        return None


class BrokenClient(SdkClient):
    bug = ""
    outbox_lost = False
    """Whether this process already lost the outbox (``loses-outbox-on-kill``: a process
    that keeps it in memory starts without it, and keeps what it records from then on)."""

    def store_token(self, token: str) -> None:
        if self.bug != "forgets-enrolled-token":
            super().store_token(token)

    def build(self, transport: Literal["socket", "http"] = "socket") -> Device:
        store = self.state_dir / STORE_FILE
        if self.bug == "ignores-frame-limit":
            client_sdk.device.UPLOAD_BYTES_PER_SYNC = 1 << 40
        if self.bug == "loses-outbox-on-kill" and not self.outbox_lost:
            self.outbox_lost = True
            if store.exists():
                with contextlib.closing(sqlite3.connect(store)) as db, db:
                    db.execute("DELETE FROM outbox WHERE state = 'pending'")
        kind: type[Device] = {
            "ack-before-apply": AckBeforeApply,
            "ignores-gaps": IgnoresGaps,
            "keeps-data-on-reset": KeepsDataOnReset,
            "ignores-resync-in-sync-response": IgnoresResyncInSyncResponse,
            "ignores-close-waits": IgnoresCloseWaits,
            "skips-http-acks": SkipsHttpAcks,
            "ignores-silence": IgnoresSilence,
            "hammers-reconnects": HammersReconnects,
            "ignores-marked-changes": IgnoresMarkedChanges,
        }.get(self.bug, Device)
        return kind(self.url, self.token, self.device_uuid, store, transport=transport)

    async def acknowledge(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.bug == "forgets-seen-offline" and self.device is None:
            return {"recorded": 0}  # held in memory only: gone with the process
        return await super().acknowledge(request)

    async def start(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = await super().start(request)
        if self.bug == "reconnects-after-terminal":
            self._restarter = asyncio.create_task(self._restart_after_terminal())
        return answer

    async def _restart_after_terminal(self) -> None:
        while self.device is not None:
            await asyncio.sleep(RESTART_AFTER_TERMINAL_S)
            if self.device is not None and self.device.stopped_by is not None:
                await self.device.stop()
                self.device = self.build()
                await self.device.start(wait=False)


BUGS = (
    "ack-before-apply",
    "ignores-gaps",
    "reconnects-after-terminal",
    "loses-outbox-on-kill",
    "keeps-data-on-reset",
    "ignores-resync-in-sync-response",
    "ignores-close-waits",
    "skips-http-acks",
    "ignores-frame-limit",
    "forgets-enrolled-token",
    "ignores-silence",
    "hammers-reconnects",
    "forgets-seen-offline",
    "ignores-marked-changes",
)


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bug", choices=BUGS, required=True)
    known, rest = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    BrokenClient.bug = known.bug
    main(BrokenClient, rest)


if __name__ == "__main__":
    run()
