"""The device: a carer's phone app in Python.

Public API (see README "Device SDK")::

    device = Device(url, token, device_uuid, store_path)
    await device.start()                 # connect in the background, resume, reconnect
    device.check_in(carer_id, visit_id)  # recordings go to the outbox
    await device.sync()                  # standard sync: upload, then download
    await device.clean_sync()            # fresh copy; refuses while work is in progress
    device.visits_today(carer_id)        # read the local copy
    device.awaiting_seen(carer_id)       # changes the carer must acknowledge
    await device.acknowledge(changes)    # the carer saw them (kept until recorded)
    device.on_change(callback)           # called after each applied change
    await device.stop()

Every change is applied together with its new position in one local transaction and
only then acknowledged. Gaps (seen in a change or a heartbeat head) are closed with a
standard sync; feeds the server cannot continue are brought level with a clean sync.
Auto sync runs a standard sync on the tenant's interval, over HTTP when the socket is
down, and at once after the push channel comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from client_sdk.acknowledgements import Acknowledgements
from client_sdk.backoff import Backoff
from client_sdk.errors import CleanSyncRefused, DeviceStopped, RequestFailed
from client_sdk.link import Link, http_base
from client_sdk.local_copy import LocalCopy
from client_sdk.local_store import LocalStore
from client_sdk.recordings import Recordings
from protocol import MAX_CHANGES_PER_PAGE, MAX_FRAME_BYTES, MAX_MUTATIONS_PER_SYNC, PROTOCOL_VERSION
from protocol.acks import covers
from protocol.device_session import (
    ApplyChange,
    ChangeArrived,
    DeviceCommand,
    DeviceFeedSession,
    FeedOffer,
    FrameUndecodable,
    HeadsAnnounced,
    KeepFeeds,
    ResetFeed,
    ResyncDemanded,
    RunCleanSync,
    RunStandardSync,
    SendAck,
    SnapshotSwapped,
    SyncAnswer,
    Welcomed,
)
from protocol.errors import ErrorCode
from protocol.frames import (
    Ack,
    Change,
    CleanSyncRequest,
    CleanSyncResponse,
    Error,
    FeedPosition,
    Heartbeat,
    Hello,
    MutationResult,
    Preferences,
    ResyncRequired,
    ServerFrame,
    SyncRequest,
    SyncResponse,
    TenantPreferences,
    Welcome,
)
from protocol.limits import DEFAULT_SEEN_WINDOW_H

log = logging.getLogger(__name__)

ChangeListener = Callable[[Change], None]
DEFAULT_AUTO_SYNC_S = 900.0
UPLOAD_BYTES_PER_SYNC = MAX_FRAME_BYTES - 32 * 1024
"""The recordings one ``sync_request`` carries: the frame limit less room for the positions."""
SYNC_RETRY_BASE_S = 0.5
SYNC_RETRY_CAP_S = 60.0


@dataclass
class SyncSummary:
    uploaded: int = 0
    applied: int = 0
    results: list[MutationResult] = field(default_factory=list)


class Device(Recordings, Acknowledgements, LocalCopy):
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
        transport: Literal["socket", "http"] = "socket",
        http_url: str | None = None,
        auto_sync_interval_s: float | None = None,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        self.device_uuid = device_uuid
        self.app_version = app_version
        self.store = LocalStore(store_path)
        self.acking = ack
        """Tests may switch acks off to simulate a faulty app."""
        self.transport = transport
        self.link = Link(urls, http_url or http_base(urls[0]), token, self._hello, self._on_frame, backoff or Backoff())
        self.welcome: Welcome | None = None
        self.preferences: TenantPreferences | None = None
        self.auto_sync_interval_s = auto_sync_interval_s
        """Overrides the tenant's interval (e.g. for an HTTP-only device before it knows it)."""
        self.errors: list[Error] = []
        self.received_changes = 0
        self.auto_syncs = 0
        self._listeners: list[ChangeListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._sync_lock = asyncio.Lock()
        self.session = DeviceFeedSession(self.store.position)
        """Decides what every frame means for the stored positions (``protocol/``)."""
        self.link.on_undecodable = self._on_undecodable
        self._wanted_sync = asyncio.Event()
        self._prefs_changed = asyncio.Event()
        self.sync_retry = Backoff(base_s=SYNC_RETRY_BASE_S, cap_s=SYNC_RETRY_CAP_S)
        """Delays between background syncs that failed in a row; reset by one that succeeds."""
        self._pause: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._unreported: dict[str, Ack] = {}
        """The last ack per feed that no socket carried: sent when the sync applying it ends."""

    # ------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> asyncio.Event:
        return self.link.connected

    @property
    def stopped_by(self) -> DeviceStopped | None:
        return self.link.stopped_by

    async def start(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Connect in the background (socket transport) and start auto sync; with
        ``wait``, return once welcomed."""
        if self.transport == "socket":
            self._tasks.append(asyncio.create_task(self.link.run(), name=f"device-{self.device_uuid}"))
        self._tasks.append(asyncio.create_task(self._background(), name="device-background"))
        self._tasks.append(asyncio.create_task(self._auto_sync(), name="device-auto-sync"))
        if wait and self.transport == "socket":
            await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        waiter = asyncio.create_task(self.connected.wait())
        runner = self._tasks[0] if self._tasks else waiter
        await asyncio.wait({waiter, runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self.stopped_by is not None:
            raise self.stopped_by
        if not self.connected.is_set():
            raise TimeoutError("device did not connect in time")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.link.close()
        self.store.close()

    async def disconnect(self) -> None:
        """Drop the current socket (the app lost signal); the link reconnects."""
        await self.link.close_socket()

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _hello(self) -> Hello:
        return Hello(
            token=self.link.token,
            device_uuid=self.device_uuid,
            app_version=self.app_version,
            protocol_version=PROTOCOL_VERSION,
            positions=self.store.positions(),
        )

    # ------------------------------------------------------------ incoming frames

    async def _on_frame(self, frame: ServerFrame) -> None:
        if isinstance(frame, Change):
            await self._on_change(frame)
        elif isinstance(frame, Welcome):
            await self._on_welcome(frame)
        elif isinstance(frame, Heartbeat):
            await self._run(self.session.handle(HeadsAnnounced(heads=tuple(frame.heads))))
        elif isinstance(frame, ResyncRequired):
            await self._run(self.session.handle(ResyncDemanded(feeds=tuple(frame.feeds))))
        elif isinstance(frame, Preferences):
            self._set_preferences(frame.preferences)
        elif isinstance(frame, Error):
            self.errors.append(frame)

    async def _on_undecodable(self, feed: str | None) -> None:
        """A frame this app cannot read: clean-sync what it may have changed (protocol/device_session.py)."""
        tracked = tuple(position.feed for position in self.store.positions())
        await self._run(self.session.handle(FrameUndecodable(feed=feed, tracked=tracked)))

    async def _on_welcome(self, welcome: Welcome) -> None:
        had_dropped = self.link.drops > 0
        self.welcome = welcome
        self._set_preferences(welcome.preferences)
        offers = tuple(FeedOffer(feed=f.feed, epoch=f.epoch, head=f.head, action=f.action) for f in welcome.feeds)
        names = {f.feed: f.carer_name for f in welcome.feeds}
        await self._run(self.session.handle(Welcomed(feeds=offers)), names=names)
        self.link.welcomed(welcome.heartbeat_interval_s)
        if had_dropped or self.store.pending_count() or self.store.unsent_seen():
            self._wanted_sync.set()  # the push channel was down: sync at once

    async def _on_change(self, change: Change) -> None:
        self.received_changes += 1
        event = ChangeArrived(feed=change.feed, epoch=change.epoch, seq=change.seq)
        await self._run(self.session.handle(event), {(change.feed, change.epoch, change.seq): change})

    async def _run(
        self,
        commands: list[DeviceCommand],
        changes: dict[tuple[str, int, int], Change] | None = None,
        names: dict[str, str] | None = None,
    ) -> int:
        """Run the session's commands in order; return how many changes were applied."""
        applied = 0
        for command in commands:
            if isinstance(command, ApplyChange):
                assert changes is not None
                self._apply(changes[(command.feed, command.epoch, command.seq)])
                applied += 1
            elif isinstance(command, SendAck):
                await self._ack(command.feed, command.epoch, command.seq)
            elif isinstance(command, ResetFeed):
                self.store.reset_feed(command.feed, command.epoch)
            elif isinstance(command, KeepFeeds):
                self.store.forget_feeds_except({offer.feed for offer in command.feeds})
                for offer in command.feeds:
                    self.store.ensure_feed(offer.feed, offer.epoch, (names or {}).get(offer.feed, ""))
            elif isinstance(command, RunStandardSync | RunCleanSync):
                self._wanted_sync.set()
        return applied

    def _set_preferences(self, preferences: TenantPreferences) -> None:
        self.preferences = preferences
        self._prefs_changed.set()

    def _apply(self, change: Change) -> None:
        # Until a welcome brings the tenant's policy, the default one.
        window_h = self.preferences.seen_window_h if self.preferences else DEFAULT_SEEN_WINDOW_H
        self.store.apply(change, window_h)
        for listener in self._listeners:
            listener(change)

    async def _ack(self, feed: str, epoch: int, seq: int) -> None:
        """Ack on the socket; with no socket up, keep it for the end of the sync (:meth:`_report_acks`)."""
        if not self.acking:
            return
        ack = Ack(feed=feed, epoch=epoch, seq=seq)
        if not await self.link.send(ack):
            self._unreported[feed] = ack

    def _reported(self, positions: list[FeedPosition]) -> None:
        """A request carrying ``positions`` was answered: the acks they cover are reported."""
        sent = {(p.feed, p.epoch): p.seq for p in positions}
        self._unreported = {
            feed: ack for feed, ack in self._unreported.items() if not covers(sent.get((feed, ack.epoch), -1), ack.seq)
        }

    async def _report_acks(self, timeout: float) -> None:
        """Acknowledge what the last answer of a sync brought that no socket carried: over
        HTTP, the device MUST report its new positions after applying (docs/protocol.md 8)."""
        for ack in list(self._unreported.values()):
            await self.link.acknowledge(ack, timeout)
            if self._unreported.get(ack.feed) is ack:
                del self._unreported[ack.feed]

    # ------------------------------------------------------------ background work

    async def _background(self) -> None:
        """Runs the syncs the device decided it needs (gaps, resets, server demands)."""
        while True:
            await self._wanted_sync.wait()
            self._wanted_sync.clear()
            try:
                if self.session.wanted_clean:
                    await self.clean_sync(sorted(self.session.wanted_clean), force=True)
                await self.sync()
            except (ConnectionError, RequestFailed, TimeoutError, OSError) as exc:
                if self.stopped_by is not None:
                    return
                # Backed off even while the socket is up: a server whose answers this app
                # cannot read fails every request at once, and must not be asked again at once.
                delay = self.sync_retry.next_delay()
                log.info("background sync failed (%s); retrying in %.1f s", exc, delay)
                await self._pause(delay)
                await self._wait_for_link()
                self._wanted_sync.set()
            else:
                self.sync_retry.reset()

    async def _wait_for_link(self) -> None:
        if self.transport == "socket":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self.connected.wait()
        else:
            await asyncio.sleep(1.0)

    async def _auto_sync(self) -> None:
        """A standard sync on the tenant's interval, over whichever transport is up."""
        while self.stopped_by is None:
            interval = self.auto_sync_interval_s or (
                self.preferences.auto_sync_interval_s if self.preferences else DEFAULT_AUTO_SYNC_S
            )
            self._prefs_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._prefs_changed.wait()
                    continue  # new preferences: restart the wait with the new interval
            if self.preferences is not None and not self.preferences.auto_sync_enabled:
                continue
            uploads = self.preferences.auto_sync_uploads if self.preferences else True
            try:
                await self.sync(upload=uploads)
                self.auto_syncs += 1
            except (ConnectionError, RequestFailed, TimeoutError, OSError) as exc:
                log.info("auto sync failed: %s", exc)

    # ------------------------------------------------------------ standard sync

    async def sync(
        self, timeout: float = 30.0, upload: bool = True, page_size: int = MAX_CHANGES_PER_PAGE
    ) -> SyncSummary:
        """Standard sync: upload the outbox, then download every change since our positions,
        at most ``page_size`` changes per request.

        Repeats while the server says ``more`` or mutations remain; each request's
        positions acknowledge the previous answer, and the last answer is acknowledged
        with ``ack`` (over HTTP when no socket is up). Safe to retry after any
        interruption: uploads are idempotent and positions only move with data.
        """
        summary = SyncSummary()
        async with self._sync_lock:
            while True:
                mutations = self.store.pending(MAX_MUTATIONS_PER_SYNC, UPLOAD_BYTES_PER_SYNC) if upload else []
                request = SyncRequest(
                    request_id=str(uuid.uuid4()),
                    mutations=mutations,
                    positions=self.store.positions(),
                    page_size=page_size,
                )
                response = await self.link.request(request, timeout)
                assert isinstance(response, SyncResponse)
                self._reported(request.positions)
                self.store.record_results(response.results)
                summary.uploaded += len(response.results)
                summary.results.extend(response.results)
                summary.applied += await self._apply_response(response)
                if not response.more and not (mutations and response.results and self.store.pending_count()):
                    await self._report_acks(timeout)
                    await self.send_seen(timeout)
                    return summary

    async def _apply_response(self, response: SyncResponse) -> int:
        answer = SyncAnswer(
            resets=tuple(response.resets),
            heads=tuple(response.heads),
            changes=tuple(FeedPosition(feed=c.feed, epoch=c.epoch, seq=c.seq) for c in response.changes),
            resync=tuple(response.resync),
        )
        return await self._run(self.session.handle(answer), {(c.feed, c.epoch, c.seq): c for c in response.changes})

    # ------------------------------------------------------------ clean sync

    async def clean_sync(self, feeds: list[str] | None = None, *, force: bool = False) -> dict[str, FeedPosition]:
        """Replace the local copy of ``feeds`` (default: all) with a fresh snapshot.

        Refused with :class:`CleanSyncRefused` while a visit is checked in or a form is
        open, unless ``force``; nothing the carer recorded is touched either way (the
        outbox and work in progress live apart from the copy being replaced). Pending
        uploads go first. Pages land in staging and are swapped in atomically only when
        complete; an interrupted clean sync resumes from its last page, or starts over
        if the server says the snapshot expired. The old copy stays usable meanwhile.
        """
        work = self.store.work_in_progress()
        if work and not force:
            raise CleanSyncRefused(
                [f"{kind} {detail} in progress on visit {visit}".replace("  ", " ") for visit, kind, detail in work]
            )
        await self.sync()  # uploads first; a failure here leaves everything as it was
        done: dict[str, FeedPosition] = {}
        for feed in feeds if feeds is not None else [p.feed for p in self.store.positions()]:
            done[feed] = await self._clean_one(feed)
        await self.sync()  # continue from the snapshot position
        return done

    async def _clean_one(self, feed: str) -> FeedPosition:
        restarted = False
        while True:
            staged = self.store.staged(feed)
            cursor = staged[1] if staged else None
            if staged and cursor is None:
                break  # complete but not swapped (interrupted right before the swap)
            try:
                response = await self.link.request(
                    CleanSyncRequest(request_id=str(uuid.uuid4()), feed=feed, cursor=cursor)
                )
            except RequestFailed as exc:
                restartable = exc.error.code in (
                    ErrorCode.SNAPSHOT_EXPIRED,
                    ErrorCode.INVALID_CURSOR,
                    ErrorCode.CURSOR_OUT_OF_ORDER,
                )
                if restartable and staged and not restarted:
                    self.store.discard_staging(feed)
                    restarted = True
                    continue
                raise
            assert isinstance(response, CleanSyncResponse)
            self.store.stage_page(response)
            if response.next_cursor is None:
                break
        position = self.store.swap_in(feed)
        await self._run(self.session.handle(SnapshotSwapped(position=position)))
        return position
