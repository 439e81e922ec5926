"""Applies device effects (``server/services/device_effects.py``) to the sockets this node holds.

Effects arrive twice: on the bus (fast, when the process that made the change shares a
bus with this node: every node listens to the one device-effects channel, whatever
sockets it holds) and from the store, polled every ``POLL_INTERVAL_S`` (always). Each
is applied once per socket. An effect applies only to a socket that was opened before the
effect was made: a device that reconnects after being told to, on this node or another,
is not closed again by a late copy of the same effect. One that replaced the socket the
effect was applied to, with an identity read before the effect, gets it at the next copy.

The relay also keeps the node's device-identity cache honest
(:class:`~server.services.identity.IdentityCache`): every effect, whatever its kind and
whether or not the device is connected here, drops the device's cached identities the
first time this node sees it, and each poll that succeeds vouches for the cache for
:data:`VOUCH_MS`. A socket admitted from the cache counts as opened when its identity was
read (``DeviceSocket``), so an effect made after that read still reaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from protocol.errors import CloseCode, ErrorCode
from server.bus.base import Bus, device_effects_channel
from server.clock import Clock
from server.periodic import Periodic
from server.services import device_effects
from server.services.device_effects import Effect, EffectKind
from server.services.identity import IdentityCache
from server.store.database import Database

if TYPE_CHECKING:
    from server.ws.feed_socket import FeedSocket

PRUNE_EVERY = 40
"""Polls between two deletions of expired effects."""

VOUCH_MS = 2_000
"""How long after a successful poll the identity cache may still be served. Polls come
every 0.25 s; if none succeeds for this long (store outage, a stalled loop), greetings
read the store until one does."""

GAP_MS = device_effects.LOOKBACK_MS // 2
"""Polls further apart than this may have missed effects (each reads the lookback only):
the identity cache is emptied rather than trusted."""


class HeldSockets(Protocol):
    """What the relay needs of the hub that owns it: the bus and the device sockets held."""

    bus: Bus

    @property
    def session_count(self) -> int: ...

    def device_socket(self, device_id: str) -> FeedSocket | None: ...


class EffectRelay(Periodic):
    def __init__(self, db: Database, clock: Clock, hub: HeldSockets) -> None:
        super().__init__(device_effects.POLL_INTERVAL_S, "device-effects")
        self.db = db
        self.clock = clock
        self.hub = hub
        self._applied: dict[str, tuple[int, FeedSocket]] = {}
        """Effect id -> (created_at, the socket it was applied to), for effects applied here
        (forgotten after the lookback)."""
        self._polls = 0
        self.identities = IdentityCache()
        """Device identities admitted without a store read (``DeviceSocket.greet``)."""
        self._seen: dict[str, int] = {}
        """Effect id -> created_at, for effects whose identities were dropped here."""
        self._polled_at: int | None = None
        self._closes: set[asyncio.Task[None]] = set()
        """Sockets being closed by an effect (kept until done)."""

    async def listen(self) -> None:
        """Follow the device-effects channel: every effect made on any node (before :meth:`start`)."""
        await self.hub.bus.subscribe([device_effects_channel()])

    def on_bus(self, payload: bytes) -> None:
        effect = Effect.decode(payload)
        if effect is not None:
            self.apply(effect)

    async def step(self) -> None:
        now = self.clock.now_ms()
        self._polls += 1
        if self._polls % PRUNE_EVERY == 0:
            async with self.db.write() as conn:
                await device_effects.prune(conn, now - device_effects.RETENTION_MS)
        if not self.hub.session_count and not self.identities:
            self._polled_at = now  # nothing here an effect could apply to, nothing missed
            return
        async with self.db.read() as conn:
            effects = await device_effects.recent(conn, now - device_effects.LOOKBACK_MS)
        if self._polled_at is not None and now - self._polled_at > GAP_MS:
            self.identities.clear()
        self._polled_at = now
        for effect in effects:
            self.apply(effect)
        self.identities.vouch(now + VOUCH_MS)
        horizon = now - 2 * device_effects.LOOKBACK_MS
        self._applied = {k: applied for k, applied in self._applied.items() if applied[0] >= horizon}
        self._seen = {k: at for k, at in self._seen.items() if at >= horizon}

    def apply(self, effect: Effect) -> bool:
        """Act on the device's socket here, if any and opened before the effect; True if acted.
        The device's cached identities are dropped the first time the effect is seen."""
        if effect.id not in self._seen:
            self._seen[effect.id] = effect.created_at
            self.identities.invalidate(effect.device_id)
        target = self.hub.device_socket(effect.device_id)
        if target is None or target.opened_at_ms > effect.created_at:
            return False
        applied = self._applied.get(effect.id)
        if applied is not None and applied[1] is target:
            return False
        self._applied[effect.id] = (effect.created_at, target)
        if effect.kind == EffectKind.RESYNC:
            target.demand_resync("requested by the office")
        elif effect.kind == EffectKind.REVOKE:
            self._closing(target.fail_queued(ErrorCode.DEVICE_REVOKED, "device revoked", CloseCode.DEVICE_REVOKED))
        else:
            self._closing(target.close(CloseCode.FEEDS_CHANGED, "carers on this device changed; reconnect"))
        return True

    def _closing(self, close: Coroutine[Any, Any, None]) -> None:
        """Close a socket in a task of its own, kept until it is done."""
        task = asyncio.get_running_loop().create_task(close)
        self._closes.add(task)
        task.add_done_callback(self._closes.discard)
