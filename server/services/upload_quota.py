"""The daily upload quota: how many bytes one device's mutations may add to the store per
UTC day, rejected ones included, so that no device can fill the node's disk.

Each new mutation is charged what the store keeps for it (:func:`stored_bytes`), counted
in ``device_upload_usage`` in the same transaction as the mutations themselves: the count
is exact across nodes, and an upload that would pass the quota is rolled back whole and
refused with ``upload_quota_exceeded``. The device keeps those mutations and sends them
again on the next UTC day (docs/protocol.md, section 6). A node remembers which devices
spent their day's quota, so their further uploads are refused without a store write.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.errors import ErrorCode, ProtocolError
from server.store.schema import device_upload_usage
from server.store.upsert import insert_for

DAY_MS = 24 * 3600 * 1000
ROW_BYTES = 256
"""What a stored row costs beyond its body (columns, index entries), charged per row."""
REJECTED_BODY_KEPT_CHARS = 1024
"""A rejected mutation's body is kept cut to its start, which names its kind, ids and time."""
REMEMBERED_DEVICES = 50_000
"""Devices a node remembers as over their quota; beyond this the oldest is forgotten
(and is refused by the store's count instead)."""


def stored_bytes(body_chars: int, *, applied: bool) -> int:
    """What the store keeps for one mutation whose ledger body is ``body_chars`` long: the
    ledger row, and for an applied one the care record with its own copy of the body."""
    ledger = body_chars + ROW_BYTES
    return 2 * ledger if applied else ledger


def kept_body(payload: str, *, rejected: bool) -> str:
    """The body the ledger keeps: whole, or a rejected mutation's first 1 KiB."""
    return payload[:REJECTED_BODY_KEPT_CHARS] if rejected else payload


class UploadQuotaExceeded(ProtocolError):
    """The device's uploads reached the day's quota; ``retry_after_s`` is the wait until the
    next UTC day. The message ends with ``retry in N s``."""

    def __init__(self, quota_bytes: int, retry_after_s: int, request_id: str | None) -> None:
        super().__init__(
            ErrorCode.UPLOAD_QUOTA_EXCEEDED,
            f"this device's uploads reached today's quota of {quota_bytes} bytes: keep the mutations and send "
            f"them again after the next UTC midnight; retry in {retry_after_s} s",
            request_id,
        )
        self.retry_after_s = retry_after_s


class UploadQuota:
    """The quota of :attr:`bytes_per_day` (0: none), and the devices this node saw spend it."""

    def __init__(self, bytes_per_day: int) -> None:
        self.bytes_per_day = bytes_per_day
        self._spent_on: OrderedDict[str, int] = OrderedDict()
        """Device id -> the day (since 1970-01-01, UTC) it spent its quota."""

    def refuse_if_spent(self, device_id: str, now_ms: int, request_id: str | None) -> None:
        """Refuse an upload at once (before any store work) when this device is known to
        have spent today's quota."""
        if self.bytes_per_day > 0 and self._spent_on.get(device_id) == now_ms // DAY_MS:
            raise self._exceeded(now_ms, request_id)

    async def charge(
        self, conn: AsyncConnection, device_id: str, stored: int, now_ms: int, request_id: str | None
    ) -> None:
        """Add ``stored`` bytes to the device's count for today, in the caller's transaction;
        raise :class:`UploadQuotaExceeded` (so the caller's transaction rolls back) when the
        count passes the quota."""
        if self.bytes_per_day <= 0 or stored <= 0:
            return
        day = now_ms // DAY_MS
        statement = insert_for(conn, device_upload_usage).values(device_id=device_id, day=day, stored_bytes=stored)
        statement = statement.on_conflict_do_update(
            index_elements=[device_upload_usage.c.device_id, device_upload_usage.c.day],
            set_={"stored_bytes": device_upload_usage.c.stored_bytes + statement.excluded.stored_bytes},
        ).returning(device_upload_usage.c.stored_bytes)
        total = int((await conn.execute(statement)).scalar_one())
        if total > self.bytes_per_day:
            self._spent_on[device_id] = day
            self._spent_on.move_to_end(device_id)
            while len(self._spent_on) > REMEMBERED_DEVICES:
                self._spent_on.popitem(last=False)
            raise self._exceeded(now_ms, request_id)

    def _exceeded(self, now_ms: int, request_id: str | None) -> UploadQuotaExceeded:
        next_day_ms = (now_ms // DAY_MS + 1) * DAY_MS
        return UploadQuotaExceeded(self.bytes_per_day, math.ceil((next_day_ms - now_ms) / 1000), request_id)
