"""Frames of the office console's live-notification feed (``/ws/console``).

The console feed reuses the device machinery: each scope (a branch, or the tenant for
tenant-wide events) is a feed with (epoch, seq) positions; the console sends its last
positions in ``console_hello`` and the server replays what it missed, then pushes new
events. Heartbeats carry heads, as for devices. Events are tagged by ``kind``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from protocol.frames import Epoch, FeedAction, FeedPosition, Id, ShortText, Struct

Severity = Literal["high", "normal"]
Diagnosis = Literal["no_device", "offline", "not_acknowledging", "not_seen", "no_check_in"]
"""``not_seen``: a phone holds the change, the carer has not acknowledged it (docs/protocol.md 4b);
``no_check_in``: a late or missed visit (section 10)."""
DeviceState = Literal["offline", "not_acknowledging", "up_to_date"]
AlertStatus = Literal["open", "resolved", "dismissed"]


class AlertDevice(Struct, frozen=True):
    """One of the carer's devices, as it stood when the alert was raised or updated."""

    device_id: Id
    name: ShortText
    uuid: Id
    connected: bool
    last_seen_at: datetime | None
    last_sync_at: datetime | None
    acked_seq: int
    head_seq: int
    state: DeviceState


class AlertVisit(Struct, frozen=True):
    """A visit touched by a change the carer has not received."""

    visit_id: Id
    client_name: ShortText
    starts_at: datetime
    ends_at: datetime
    status: str
    change: ShortText
    seq: int


class AlertView(Struct, frozen=True):
    id: Id
    carer_id: Id
    carer_name: ShortText
    branch_id: Id | None
    status: AlertStatus
    severity: Severity
    diagnosis: Diagnosis
    raised_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: Id | None
    first_unacked_seq: int
    head_seq: int
    earliest_start: datetime | None
    minutes_until_start: int | None
    """Minutes from the last update until the earliest affected visit starts; negative if it has started."""
    devices: list[AlertDevice]
    visits: list[AlertVisit]
    action: str
    closed_by_name: ShortText | None = None
    """The name of the staff user who closed it (None while open, or resolved by an ack)."""


class AlertEventBase(Struct, tag_field="kind", frozen=True):
    alert: AlertView


class AlertRaised(AlertEventBase, tag="alert_raised", frozen=True):
    pass


class AlertUpdated(AlertEventBase, tag="alert_updated", frozen=True):
    pass


class AlertResolved(AlertEventBase, tag="alert_resolved", frozen=True):
    pass


class AlertDismissed(AlertEventBase, tag="alert_dismissed", frozen=True):
    pass


class DeviceEventBase(Struct, tag_field="kind", frozen=True):
    device_id: Id
    device_name: ShortText
    carer_ids: list[Id]


class DeviceSynced(DeviceEventBase, tag="device_synced", frozen=True):
    pass


class DeviceConnected(DeviceEventBase, tag="device_connected", frozen=True):
    pass


class DeviceDisconnected(DeviceEventBase, tag="device_disconnected", frozen=True):
    pass


VisitState = Literal["scheduled", "in_progress", "completed", "late", "missed", "cancelled"]
"""A visit's status, derived from what its carers recorded (docs/protocol.md 10)."""


class VisitStatusChanged(Struct, tag_field="kind", tag="visit_status", frozen=True):
    """A visit's status as it now stands: a carer's check-in or check-out was stored for it,
    or it turned late or missed with nobody checked in."""

    visit_id: Id
    status: VisitState
    client_name: ShortText
    starts_at: datetime
    carer_ids: list[Id]


ConsolePayload = (
    AlertRaised
    | AlertUpdated
    | AlertResolved
    | AlertDismissed
    | DeviceSynced
    | DeviceConnected
    | DeviceDisconnected
    | VisitStatusChanged
)


class ConsoleHello(Struct, tag_field="type", tag="console_hello", frozen=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    positions: list[FeedPosition] = []


class ConsoleFeedStatus(Struct, frozen=True):
    feed: Id
    name: ShortText
    epoch: Epoch
    head: int
    action: FeedAction


class ConsoleWelcome(Struct, tag_field="type", tag="console_welcome", frozen=True):
    user_id: Id
    role: str
    server_time: datetime
    feeds: list[ConsoleFeedStatus]
    heartbeat_interval_s: float


class ConsoleEvent(Struct, tag_field="type", tag="event", frozen=True):
    feed: Id
    epoch: Epoch
    seq: Annotated[int, msgspec.Meta(ge=1)]
    at: datetime
    event: ConsolePayload
