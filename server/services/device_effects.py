"""Device effects: what a change to a device means for its open socket, on every node.

Deactivating, deleting, revoking or rotating a device closes its socket for good
(``revoke``); changing its carers makes it reconnect to follow the new feeds
(``reconnect``); an office demand asks it for a clean sync (``resync``). The service that
makes the change writes the effect in the same transaction (:func:`record`), so no
entry point can forget it, then rings the cluster's device-effects channel on the bus
(:func:`announce`) as the fast path: every node hears it, whether or not it holds the
device's socket, since any node may hold the device's identity in its cache and the
device may reconnect to it the next moment.

The bus cannot be the only path: the CLI is another process, and with the embedded
default (in-process bus) nothing it publishes reaches the server. So every node also
polls the effects of the last few seconds (:func:`recent`, every
:data:`POLL_INTERVAL_S`) and applies those it has not applied yet: an effect reaches the
socket within about a quarter of a second from any process, and within milliseconds
when the bus carries it. Old rows are pruned by :func:`prune`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server import tunables
from server.bus.base import Bus, device_effects_channel
from server.ids import new_id
from server.store.schema import device_effects

log = logging.getLogger(__name__)

POLL_INTERVAL_S = tunables.DEVICE_EFFECTS_POLL_INTERVAL_S
LOOKBACK_MS = tunables.DEVICE_EFFECTS_LOOKBACK_MS
RETENTION_MS = tunables.DEVICE_EFFECTS_RETENTION_MS


class EffectKind(enum.StrEnum):
    REVOKE = "revoke"
    RECONNECT = "reconnect"
    RESYNC = "resync"


@dataclass(frozen=True, slots=True)
class Effect:
    id: str
    device_id: str
    kind: EffectKind
    created_at: int

    def encode(self) -> bytes:
        """The bus payload on the device-effects channel."""
        return f"{self.kind}|{self.id}|{self.created_at}|{self.device_id}".encode()

    @classmethod
    def decode(cls, payload: bytes) -> Effect | None:
        """Parse a device-effects payload; ``None`` if it is not an effect."""
        try:
            kind, effect_id, created_at, device_id = payload.decode().split("|")
            return cls(effect_id, device_id, EffectKind(kind), int(created_at))
        except ValueError:
            return None


async def record(conn: AsyncConnection, device_id: str, kind: EffectKind, now_ms: int) -> Effect:
    """Write the effect in the caller's transaction (the one that changes the device)."""
    effect = Effect(new_id(), device_id, kind, now_ms)
    await conn.execute(
        insert(device_effects).values(id=effect.id, device_id=device_id, kind=str(kind), created_at=now_ms)
    )
    return effect


async def announce(bus: Bus | None, effect: Effect) -> None:
    """Ring every node (after commit). Best effort: the poll catches up."""
    if bus is None:
        return
    try:
        await bus.publish(device_effects_channel(), effect.encode())
    except Exception as exc:  # the store already holds the effect; polling delivers it
        log.info("effect %s for device %s not published (%s); nodes will poll it", effect.kind, effect.device_id, exc)


async def recent(conn: AsyncConnection, since_ms: int) -> list[Effect]:
    rows = await conn.execute(
        select(device_effects).where(device_effects.c.created_at >= since_ms).order_by(device_effects.c.created_at)
    )
    return [Effect(r.id, r.device_id, EffectKind(r.kind), r.created_at) for r in rows]


async def prune(conn: AsyncConnection, before_ms: int) -> None:
    await conn.execute(delete(device_effects).where(device_effects.c.created_at < before_ms))
