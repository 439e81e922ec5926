"""Every bus channel name, built and parsed here and nowhere else.

A channel is ``<kind>:<key>``. Exact names only (no patterns: Redis would match every
pattern against every publish).

| kind | key | carries |
| --- | --- | --- |
| ``feed`` | carer id | feed envelopes (:mod:`server.bus.envelope`) of the carer's changes |
| ``console`` | branch or tenant id | feed envelopes of office notifications |
| ``tenant`` | tenant id | an encoded frame for every device of the tenant (``preferences``) |
| ``device-effects`` | ``all`` | every device effect (revoke, reconnect, resync), heard by every node |
| ``staff`` | user id | a control word for a staff user's console sockets |
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class ChannelKind(enum.StrEnum):
    FEED = "feed"
    CONSOLE = "console"
    TENANT = "tenant"
    DEVICE_EFFECTS = "device-effects"
    STAFF = "staff"


FEED_KINDS = frozenset({ChannelKind.FEED, ChannelKind.CONSOLE})
"""Kinds whose messages are feed envelopes (ordered by epoch and seq)."""


class Channel(NamedTuple):
    kind: ChannelKind | None
    """None for a name this module did not build."""
    key: str


def name(kind: ChannelKind, key: str) -> str:
    return f"{kind.value}:{key}"


def parse(channel: str) -> Channel:
    prefix, _, key = channel.partition(":")
    try:
        return Channel(ChannelKind(prefix), key)
    except ValueError:
        return Channel(None, key)


def feed_channel(carer_id: str) -> str:
    return name(ChannelKind.FEED, carer_id)


def console_channel(scope_id: str) -> str:
    return name(ChannelKind.CONSOLE, scope_id)


def tenant_channel(tenant_id: str) -> str:
    return name(ChannelKind.TENANT, tenant_id)


def device_effects_channel() -> str:
    """One channel for the whole cluster: a node must hear an effect for a device it does
    not hold a socket of, since it may hold the device's identity (and the device may
    reconnect to it at once)."""
    return name(ChannelKind.DEVICE_EFFECTS, "all")


def staff_control_channel(user_id: str) -> str:
    """Rung when a staff user's tokens change (sign-out, revocation, password change)."""
    return name(ChannelKind.STAFF, user_id)
