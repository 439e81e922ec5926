"""The node-local registry of sockets, their bus subscriptions and their heartbeats, and
the one owner of what the node follows: the channel map, the head cache and the coalesced
greeting reads.

Device and console sockets subscribe to one channel per feed they follow; a message on
a channel is handed, as the same already-decoded text, to every socket following it.
Both kinds of socket are greeted the same way: identify, :meth:`Hub.follow` (follow the
feeds, then learn heads consistent with that), welcome, :meth:`Hub.settle`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from protocol.errors import CloseCode
from protocol.heads import is_newer, moved_on
from server.bus import channels, envelope
from server.bus.base import Bus, staff_control_channel
from server.bus.channels import ChannelKind
from server.clock import Clock
from server.cluster.presence import Presence
from server.periodic import Periodic
from server.services import feeds
from server.services.head_cache import HeadCache
from server.startup import ConnectWaves
from server.store.database import Database
from server.ws.effects import EffectRelay
from server.ws.followers import Followers
from server.ws.greeting_reads import GreetingReads
from server.ws.wire import SendMessages

if TYPE_CHECKING:
    from server.ws.feed_socket import FeedSocket

log = logging.getLogger(__name__)

BEAT_SLICE = 500
"""Sockets sent their heartbeat in one step of the event loop: most heartbeats are sent
straight to the socket now, so 10,000 of them in one step would hold up pushes for the
whole batch."""

DRAIN_SLICES = 50
"""Groups a draining node closes its sockets in, one group per ``window / DRAIN_SLICES``."""


class Hub(Periodic):
    def __init__(self, db: Database, bus: Bus, clock: Clock, heartbeat_interval_s: float, presence: Presence) -> None:
        super().__init__(heartbeat_interval_s, "heartbeats")
        self.db = db
        self.bus = bus
        self.presence = presence
        self._by_channel: Followers[FeedSocket] = Followers()
        self._by_device: dict[str, FeedSocket] = {}
        self._by_staff: dict[str, set[FeedSocket]] = {}
        self._sockets: set[FeedSocket] = set()
        self.heads = HeadCache()
        """Heads of the feeds this node follows: heartbeats and greetings read them here."""
        self.reads = GreetingReads(db)
        """Greetings' identity and head reads, coalesced into one query per batch."""
        self._chores: set[asyncio.Task[None]] = set()
        """Bus unsubscriptions under way (kept until done)."""
        self.messages = SendMessages()
        """One ASGI send message per fanned-out frame, for all the sockets of this hub."""
        self.waves = ConnectWaves()
        """Connect waves, frozen out of the collector once settled (enabled by ``tune_gc`` when serving)."""
        self.effects = EffectRelay(db, clock, self)
        """Applies device effects (revocations, carer changes...) to the sockets held here."""
        bus.set_handler(self._on_message)

    @property
    def session_count(self) -> int:
        return len(self._by_device)

    @property
    def console_count(self) -> int:
        return len(self._sockets) - len(self._by_device)

    def is_connected(self, device_id: str) -> bool:
        return device_id in self._by_device

    async def stop(self) -> None:
        await super().stop()
        for socket in list(self._sockets):
            await socket.close(CloseCode.SERVER_SHUTDOWN, "server shutting down")

    async def drain(self, window_s: float, close: Callable[[FeedSocket], Awaitable[None]]) -> None:
        """Close every socket with ``close``, spread over ``window_s`` in up to ``DRAIN_SLICES``
        slices, so the sockets of a stopping node move to the other nodes gradually."""
        sockets = list(self._sockets)
        if not sockets:
            return
        slices = min(DRAIN_SLICES, len(sockets))
        size = -(-len(sockets) // slices)
        for start in range(0, len(sockets), size):
            if start:
                await asyncio.sleep(window_s / slices)
            await asyncio.gather(*(close(socket) for socket in sockets[start : start + size]))

    async def step(self) -> None:
        await self.beat()

    # ------------------------------------------------------------ greeting

    async def follow(
        self,
        socket: FeedSocket,
        channels: dict[str, str],
        heads_for: Callable[[dict[str, feeds.Head] | None], Awaitable[dict[str, feeds.Head]]],
    ) -> dict[str, feeds.Head]:
        """Follow the socket's feeds (``channels``: feed id -> channel), then return their
        heads, consistent with the subscription: any change committed after the heads
        reaches the socket as a live push, held (its streamer paused) until :meth:`settle`.

        ``heads_for`` is given the heads this node already knows for every feed (None if
        it does not know them all) and returns the heads to greet with (those, or read)."""
        known_before = self.heads.known(channels)
        socket.streamer.pause()
        try:
            if socket.device_key is not None:
                await self.register_device(socket)
            else:
                await self.register_console(socket)
            # A socket replacing its device's last one unfollowed and followed its feeds
            # again with no pause in between: the heads known just before are still current.
            known = self.heads.known(channels)
            return await heads_for(known if known is not None else known_before)
        except BaseException:
            self.unregister(socket)
            raise

    def settle(self, socket: FeedSocket, channels: dict[str, str], heads: dict[str, feeds.Head]) -> None:
        """After the welcome was queued: hand over what arrived meanwhile, keep the heads
        current from here, and fill what moved on while nothing here said so."""
        pushed = socket.streamer.resume()
        told = dict(heads)
        for feed_id, channel in channels.items():
            self.heads.store(channel, heads[feed_id])
        for feed_id, epoch, seq in pushed:
            # The cache never moves back: a push older than the heads read changes nothing.
            self.heads.observe(channels[feed_id], epoch, seq)
            if is_newer(epoch, seq, told[feed_id].epoch, told[feed_id].seq):
                told[feed_id] = feeds.Head(epoch=epoch, seq=seq)
        known = self.heads.known(channels)
        if known is not None and moved_on(known, told):
            # Heads moved on while the greeting was answered and no push said so here
            # (a doorbell this socket missed): the session decides what to fill.
            socket.streamer.push_heads(known)

    # ------------------------------------------------------------ registration

    async def register_device(self, session: FeedSocket) -> None:
        device_id = session.device_key
        assert device_id is not None, "only a greeted device socket registers as a device"
        previous = self._by_device.get(device_id)
        if previous is not None:
            await previous.close(CloseCode.REPLACED, "another connection of this device took over")
            self.unregister(previous)
        self._by_device[device_id] = session
        self.presence.connected(device_id)
        await self._subscribe(session, [])

    async def register_console(self, socket: FeedSocket) -> None:
        """Follow the console's feeds and its user's control channel (sign-out, revocation)."""
        user_id = socket.staff_key or ""
        sockets = self._by_staff.setdefault(user_id, set())
        extra = [] if sockets else [staff_control_channel(user_id)]
        sockets.add(socket)
        await self._subscribe(socket, extra)

    async def _subscribe(self, socket: FeedSocket, extra: list[str]) -> None:
        self._sockets.add(socket)
        self.waves.connected()
        fresh = []
        for channel in socket.channels:
            if self._by_channel.add(channel, socket):
                fresh.append(channel)
        await self.bus.subscribe([*fresh, *extra])

    def unregister(self, socket: FeedSocket) -> None:
        if socket in self._sockets:
            self._sockets.discard(socket)
            self.waves.closed()
        idle = []
        device_id = socket.device_key
        if device_id and self._by_device.get(device_id) is socket:
            del self._by_device[device_id]
            self.presence.disconnected(device_id)
        user_id = socket.staff_key
        consoles = self._by_staff.get(user_id) if user_id is not None else None
        if user_id is not None and consoles is not None and socket in consoles:
            consoles.discard(socket)
            if not consoles:
                del self._by_staff[user_id]
                idle.append(staff_control_channel(user_id))
        for channel in socket.channels:
            if self._by_channel.discard(channel, socket):
                self.heads.forget(channel)
                idle.append(channel)
        if idle:
            chore = asyncio.get_running_loop().create_task(self._unsubscribe_idle(idle))
            self._chores.add(chore)
            chore.add_done_callback(self._chores.discard)

    async def _unsubscribe_idle(self, idle: list[str]) -> None:
        """Unsubscribe the channels still unfollowed when this runs: a device replacing its
        own connection on this node re-follows them before the task gets to run."""
        await self.bus.unsubscribe([c for c in idle if not self._follows(c)])

    def _follows(self, channel: str) -> bool:
        kind, key = channels.parse(channel)
        if kind == ChannelKind.STAFF:
            return key in self._by_staff
        return channel in self._by_channel

    def device_socket(self, device_id: str) -> FeedSocket | None:
        """The device's socket on this node, if it is connected here."""
        return self._by_device.get(device_id)

    # ------------------------------------------------------------ delivery

    def _on_message(self, channel: str, payload: bytes) -> None:
        kind, key = channels.parse(channel)
        members = self._by_channel.of(channel)
        if members and kind == "tenant":
            text = payload.decode()  # an encoded frame for every device of the tenant
            for socket in members:
                socket.streamer.send_text(text)
        elif members:
            epoch, seq, frame = envelope.unpack(payload)
            self.heads.observe(channel, epoch, seq)
            text = frame.decode()
            for socket in members:
                socket.streamer.push_live(key, epoch, seq, text)
        elif kind == "staff":
            for console in list(self._by_staff.get(key, ())):
                console.recheck()
        elif kind == ChannelKind.DEVICE_EFFECTS:
            self.effects.on_bus(payload)

    async def beat(self) -> None:
        """Send every socket its feed heads, read in one batched query per feed family."""
        wanted: dict[feeds.FeedFamily, list[str]] = {feeds.CARERS: [], feeds.CONSOLE: []}
        for channel in self._by_channel:
            kind, feed_id = channels.parse(channel)
            family = feeds.FAMILY_OF_KIND.get(kind) if kind else None
            if family is not None:  # tenant channels carry no feed
                wanted[family].append(feed_id)
        if not any(wanted.values()):
            return
        async with self.db.read() as conn:
            heads = {family: await feeds.heads(conn, ids, family) for family, ids in wanted.items() if ids}
        for family, found in heads.items():
            for feed_id, head in found.items():
                if family.channel(feed_id) in self._by_channel:  # still followed after the read
                    self.heads.store(family.channel(feed_id), head)
        for index, socket in enumerate(list(self._sockets)):
            if index and not index % BEAT_SLICE:
                await asyncio.sleep(0)  # pushes due meanwhile go out between slices, not after all of them
            known = heads.get(socket.streamer.family, {})
            socket.streamer.push_heads({f: known[f] for f in socket.streamer.session.feeds if f in known})
