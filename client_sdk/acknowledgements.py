"""The carer's acknowledgement that a change was seen (docs/protocol.md 4b): noted in the
local store first, then sent as ``seen`` frames (the socket, else HTTP), and sent again
after the next sync when that failed."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from client_sdk.errors import RequestFailed
from client_sdk.link import Link
from client_sdk.local_store import LocalStore
from client_sdk.seen_store import AwaitingSeen
from protocol.errors import ErrorCode
from protocol.frames import Seen, SeenRecorded
from protocol.limits import MAX_SEEN_PER_FRAME

log = logging.getLogger(__name__)

SEEN_REFUSED_FOR_GOOD = {ErrorCode.STALE_EPOCH, ErrorCode.UNKNOWN_FEED, ErrorCode.POSITION_AHEAD}
"""Answers after which an acknowledgement can never be recorded: it is dropped."""


class Acknowledgements:
    """The acknowledgement half of :class:`client_sdk.device.Device`."""

    store: LocalStore
    link: Link

    def awaiting_seen(self, carer_id: str | None = None) -> list[AwaitingSeen]:
        """Changes the carer has to acknowledge and has not (docs/protocol.md 4b), oldest first."""
        return self.store.awaiting_seen(carer_id)

    async def acknowledge(
        self,
        changes: list[AwaitingSeen] | None = None,
        at: datetime | None = None,
        timeout: float = 30.0,
        *,
        send: bool = True,
    ) -> int:
        """The carer saw ``changes`` (default: every one awaiting). Noted durably first, then
        (unless ``send`` is False: the phone is offline) sent as ``seen`` (socket, else
        HTTP); if that fails it is sent again after the next sync. Returns how many the
        server has recorded now."""
        chosen = self.awaiting_seen() if changes is None else changes
        self.store.mark_seen([(c.feed, c.epoch, c.seq) for c in chosen], at or datetime.now(UTC))
        if not send:
            return 0
        try:
            return await self.send_seen(timeout)
        except (ConnectionError, RequestFailed, TimeoutError, OSError) as exc:
            log.info("seen not sent now (%s); kept for the next sync", exc)
            return 0

    async def send_seen(self, timeout: float = 30.0) -> int:
        """Send every acknowledgement the server has not answered; how many it recorded."""
        recorded = 0
        for (feed, epoch), (at, seqs) in self.store.unsent_seen().items():
            for start in range(0, len(seqs), MAX_SEEN_PER_FRAME):
                chunk = seqs[start : start + MAX_SEEN_PER_FRAME]
                frame = Seen(request_id=str(uuid.uuid4()), feed=feed, epoch=epoch, seqs=chunk, seen_at=at)
                try:
                    answer = await self.link.request(frame, timeout)
                except RequestFailed as exc:
                    if exc.error.code not in SEEN_REFUSED_FOR_GOOD:
                        raise
                    self.store.seen_answered(feed, epoch, chunk)
                    continue
                assert isinstance(answer, SeenRecorded)
                self.store.seen_answered(feed, epoch, chunk)
                recorded += len(chunk)
        return recorded
