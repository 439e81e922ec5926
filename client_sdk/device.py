"""The device: a carer's phone app in Python.

Public API (see README "Device SDK")::

    device = Device(url, token, device_uuid, store_path)
    await device.start()                 # connect in the background, resume, reconnect
    device.check_in(carer_id, visit_id)  # recordings go to the outbox
    await device.sync()                  # standard sync: upload, then download
    device.visits_today(carer_id)        # read the local copy
    device.on_change(callback)           # called after each applied change
    await device.stop()

Every change is applied together with its new position in one local transaction and
only then acknowledged. Gaps (seen in a change or a heartbeat head) are closed with a
standard sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from client_sdk.backoff import Backoff
from client_sdk.local_store import LocalStore
from protocol import MAX_MUTATIONS_PER_SYNC, PROTOCOL_VERSION
from protocol.codec import decode_server_frame, encode
from protocol.errors import should_reconnect
from protocol.frames import (
    Ack,
    Change,
    CheckIn,
    CheckOut,
    Error,
    FeedPosition,
    FormSubmission,
    Heartbeat,
    Hello,
    Location,
    Mutation,
    SyncRequest,
    SyncResponse,
    TaskOutcome,
    VisitNote,
    VisitView,
    Welcome,
)
from protocol.tracker import Apply, EpochReset, Gap, HeadBehind, decide_change, decide_head

log = logging.getLogger(__name__)

ChangeListener = Callable[[Change], None]


class DeviceStopped(Exception):
    """The server closed with a terminal code (revoked, bad token...): see ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with terminal code {code}: {reason}")
        self.code = code
        self.reason = reason


class RequestFailed(Exception):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


@dataclass
class SyncSummary:
    uploaded: int = 0
    applied: int = 0
    results: list[Any] = field(default_factory=list)


class Device:
    def __init__(
        self,
        url: str | list[str],
        token: str,
        device_uuid: str,
        store_path: str | Path,
        *,
        app_version: str = "caresync-sdk/0.1",
        ack: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        """Server addresses tried in turn: after a failed or lost connection, the next one."""
        self._url_index = 0
        self.token = token
        self.device_uuid = device_uuid
        self.app_version = app_version
        self.store = LocalStore(store_path)
        self.acking = ack
        """Tests may switch acks off to simulate a faulty app."""
        self.backoff = backoff or Backoff()
        self.welcome: Welcome | None = None
        self.connected = asyncio.Event()
        self.stopped_by: DeviceStopped | None = None
        self.errors: list[Error] = []
        self.received_changes = 0
        self._listeners: list[ChangeListener] = []
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[SyncResponse]] = {}
        self._sync_lock = asyncio.Lock()
        self._catch_up: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Connect in the background; with ``wait``, return once welcomed."""
        self._runner = asyncio.create_task(self._run(), name=f"device-{self.device_uuid}")
        if wait:
            await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        waiter = asyncio.create_task(self.connected.wait())
        await asyncio.wait(
            {waiter, self._runner} if self._runner else {waiter},
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        if self.stopped_by is not None:
            raise self.stopped_by
        if not self.connected.is_set():
            raise TimeoutError("device did not connect in time")

    async def stop(self) -> None:
        for task in (self._catch_up, self._runner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.store.close()

    async def disconnect(self) -> None:
        """Drop the current socket (the app lost signal); the runner reconnects."""
        if self._ws is not None:
            await self._ws.close()

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def _run(self) -> None:
        while True:
            try:
                url = self.urls[self._url_index % len(self.urls)]
                async with connect(url, max_size=4 * 1024 * 1024, compression=None, open_timeout=5) as ws:
                    self._ws = ws
                    await self._session(ws)
                code, reason = ws.close_code or 1006, ws.close_reason or ""
            except ConnectionClosed as closed:
                code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
            except (OSError, TimeoutError) as exc:
                code, reason = 1006, str(exc)
                log.debug("connect failed: %s", exc)
            finally:
                self._ws = None
                self.connected.clear()
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(ConnectionError("connection lost"))
                self._pending.clear()
            if not should_reconnect(code):
                self.stopped_by = DeviceStopped(code, reason)
                return
            self._url_index += 1
            await asyncio.sleep(self.backoff.next_delay())

    async def _session(self, ws: ClientConnection) -> None:
        hello = Hello(
            token=self.token,
            device_uuid=self.device_uuid,
            app_version=self.app_version,
            protocol_version=PROTOCOL_VERSION,
            positions=self.store.positions(),
        )
        await ws.send(encode(hello).decode())
        async for raw in ws:
            frame = decode_server_frame(raw)
            if isinstance(frame, Change):
                await self._on_change(frame)
            elif isinstance(frame, Welcome):
                self._on_welcome(frame)
            elif isinstance(frame, Heartbeat):
                self._on_heartbeat(frame)
            elif isinstance(frame, SyncResponse):
                future = self._pending.pop(frame.request_id, None)
                if future is not None and not future.done():
                    future.set_result(frame)
            else:
                self._on_error(frame)

    # ------------------------------------------------------------ incoming

    def _on_welcome(self, welcome: Welcome) -> None:
        self.welcome = welcome
        self.store.forget_feeds_except({f.feed for f in welcome.feeds})
        for status in welcome.feeds:
            position = self.store.ensure_feed(status.feed, status.epoch, status.carer_name)
            if status.action == "reset" or position.epoch != status.epoch:
                self.store.reset_feed(status.feed, status.epoch)
        self.backoff.reset()
        self.connected.set()
        if self.store.pending_count():
            self._schedule_sync()

    async def _on_change(self, change: Change) -> None:
        self.received_changes += 1
        stored = self.store.position(change.feed)
        if stored is None:
            return
        decision = decide_change(stored, change.epoch, change.seq)
        if isinstance(decision, Apply):
            self._apply(change)
            await self._ack(change.feed, change.epoch, change.seq)
        elif isinstance(decision, Gap | EpochReset):
            self._schedule_sync()

    def _on_heartbeat(self, heartbeat: Heartbeat) -> None:
        for head in heartbeat.heads:
            stored = self.store.position(head.feed)
            if stored is None:
                continue
            decision = decide_head(stored, head.epoch, head.seq)
            if isinstance(decision, EpochReset | HeadBehind):
                self.store.reset_feed(head.feed, head.epoch)
                self._schedule_sync()
            elif isinstance(decision, Gap):
                self._schedule_sync()

    def _on_error(self, error: Error) -> None:
        future = self._pending.pop(error.request_id, None) if error.request_id else None
        if future is not None and not future.done():
            future.set_exception(RequestFailed(error))
        else:
            self.errors.append(error)

    def _apply(self, change: Change) -> None:
        self.store.apply(change)
        for listener in self._listeners:
            listener(change)

    async def _ack(self, feed: str, epoch: int, seq: int) -> None:
        if self.acking and self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(encode(Ack(feed=feed, epoch=epoch, seq=seq)).decode())

    def _schedule_sync(self) -> None:
        if self._catch_up is None or self._catch_up.done():
            self._catch_up = asyncio.create_task(self._background_sync())

    async def _background_sync(self) -> None:
        try:
            await self.sync()
        except (ConnectionError, RequestFailed, TimeoutError) as exc:
            log.info("background sync failed: %s", exc)

    # ------------------------------------------------------------ standard sync

    async def sync(self, timeout: float = 30.0) -> SyncSummary:
        """Standard sync: upload the outbox, then download every change since our positions.

        Repeats while the server says ``more`` or mutations remain. Safe to retry after
        any interruption: uploads are idempotent and positions only move with data.
        """
        summary = SyncSummary()
        async with self._sync_lock:
            while True:
                mutations = self.store.pending(MAX_MUTATIONS_PER_SYNC)
                request = SyncRequest(
                    request_id=str(uuid.uuid4()),
                    mutations=mutations,
                    positions=self.store.positions(),
                )
                response = await self._request(request, timeout)
                self.store.record_results(response.results)
                summary.uploaded += len(response.results)
                summary.results.extend(response.results)
                summary.applied += await self._apply_response(response)
                if not response.more and len(mutations) < MAX_MUTATIONS_PER_SYNC:
                    return summary

    async def _apply_response(self, response: SyncResponse) -> int:
        epochs = {h.feed: h.epoch for h in response.heads}
        for feed in response.resets:
            self.store.reset_feed(feed, epochs[feed])
        applied = 0
        latest: dict[str, Change] = {}
        for change in response.changes:
            stored = self.store.position(change.feed)
            if stored is None:
                continue
            if stored.epoch != change.epoch and change.feed in epochs:
                self.store.reset_feed(change.feed, change.epoch)
                stored = FeedPosition(feed=change.feed, epoch=change.epoch, seq=0)
            if isinstance(decide_change(stored, change.epoch, change.seq), Apply):
                self._apply(change)
                latest[change.feed] = change
                applied += 1
        for change in latest.values():
            await self._ack(change.feed, change.epoch, change.seq)
        return applied

    async def _request(self, request: SyncRequest, timeout: float) -> SyncResponse:
        ws = self._ws
        if ws is None or not self.connected.is_set():
            raise ConnectionError("not connected")
        future: asyncio.Future[SyncResponse] = asyncio.get_running_loop().create_future()
        self._pending[request.request_id] = future
        try:
            await ws.send(encode(request).decode())
        except ConnectionClosed as exc:
            self._pending.pop(request.request_id, None)
            raise ConnectionError("connection lost") from exc
        async with asyncio.timeout(timeout):
            return await future

    # ------------------------------------------------------------ recordings

    def check_in(
        self,
        carer_id: str,
        visit_id: str,
        at: datetime | None = None,
        location: Location | None = None,
    ) -> int:
        return self._record(CheckIn, carer_id, visit_id, at, location=location)

    def check_out(
        self,
        carer_id: str,
        visit_id: str,
        at: datetime | None = None,
        location: Location | None = None,
    ) -> int:
        return self._record(CheckOut, carer_id, visit_id, at, location=location)

    def record_task(self, carer_id: str, visit_id: str, task_id: str, done: bool, reason: str | None = None) -> int:
        return self._record(TaskOutcome, carer_id, visit_id, None, task_id=task_id, done=done, reason=reason)

    def add_note(self, carer_id: str, visit_id: str, text: str) -> int:
        return self._record(VisitNote, carer_id, visit_id, None, text=text)

    def submit_form(self, carer_id: str, visit_id: str, form: str, data: dict[str, Any]) -> int:
        return self._record(FormSubmission, carer_id, visit_id, None, form=form, data=data)

    def _record(self, kind: type[Mutation], carer_id: str, visit_id: str, at: datetime | None, **fields: Any) -> int:
        """Put a recording in the outbox (durably) and return its mutation id."""
        mutation_id = self.store.next_mutation_id()
        mutation = kind(
            mutation_id=mutation_id,
            carer_id=carer_id,
            visit_id=visit_id,
            captured_at=at or datetime.now(UTC),
            **fields,
        )
        self.store.enqueue(mutation)
        return mutation_id

    # ------------------------------------------------------------ reading

    def visits(self, carer_id: str | None = None) -> list[VisitView]:
        return self.store.visits(carer_id)

    def visits_today(self, carer_id: str | None = None, now: datetime | None = None) -> list[VisitView]:
        moment = now or datetime.now(UTC)
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.store.visits(carer_id, start, start + timedelta(days=1))

    def positions(self) -> dict[str, FeedPosition]:
        return {p.feed: p for p in self.store.positions()}
