"""Every frame of the protocol as a msgspec struct.

Frames are JSON text frames tagged by ``type``. Device-to-server frames form the
:data:`DeviceFrame` union and server-to-device frames the :data:`ServerFrame` union, so a
frame sent in the wrong direction is an unknown type. Mutations (what a device recorded
offline) are tagged by ``kind``; so are change payloads. docs/protocol.md is the
normative description; docs/frames.schema.json is generated from these classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from protocol.limits import (
    DEFAULT_SEEN_WINDOW_H,
    MAX_APP_VERSION_CHARS,
    MAX_ID_CHARS,
    MAX_LONG_TEXT_CHARS,
    MAX_SEEN_PER_FRAME,
    MAX_SEEN_WINDOW_H,
    MAX_SHORT_TEXT_CHARS,
    MAX_WIRE_INT,
)

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_WIRE_INT)]
Epoch = Annotated[int, msgspec.Meta(ge=1, le=MAX_WIRE_INT)]
WireInt = Annotated[int, msgspec.Meta(ge=0, le=MAX_WIRE_INT)]
ShortText = Annotated[str, msgspec.Meta(max_length=MAX_SHORT_TEXT_CHARS)]
LongText = Annotated[str, msgspec.Meta(max_length=MAX_LONG_TEXT_CHARS)]
Time = Annotated[datetime, msgspec.Meta(tz=True)]
"""An RFC 3339 time that carries an offset; a time without one is an ``invalid_frame``."""


class Struct(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every wire struct: keyword-only, immutable; unknown fields are ignored."""


# --------------------------------------------------------------------------- positions


class FeedPosition(Struct, frozen=True):
    """A position in one carer's feed: ``seq`` changes applied within ``epoch``."""

    feed: Id
    epoch: Epoch
    seq: Seq


FeedAction = Literal["resume", "catch_up", "reset", "clean_sync"]


class FeedStatus(Struct, frozen=True):
    """One feed as announced in ``welcome``: its head and what the device must do."""

    feed: Id
    carer_name: ShortText
    epoch: Epoch
    head: Seq
    action: FeedAction


class TenantPreferences(Struct, frozen=True):
    """Tenant settings a device needs."""

    auto_sync_enabled: bool
    auto_sync_interval_s: int
    mismatch_grace_s: int
    timezone: ShortText
    auto_sync_uploads: bool = True
    """Whether auto sync also uploads the outbox (otherwise it only downloads)."""
    seen_window_h: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEEN_WINDOW_H)] = DEFAULT_SEEN_WINDOW_H
    """A change to a visit starting within this many hours of it needs the carer's
    acknowledgement (``seen``); 0: none does (:mod:`protocol.seen_policy`)."""


# --------------------------------------------------------------------------- rota views


class ClientView(Struct, frozen=True):
    id: Id
    name: ShortText
    address: ShortText = ""


class TaskView(Struct, frozen=True):
    id: Id
    title: ShortText
    position: WireInt
    removed: bool = False


VisitStatus = Literal["scheduled", "cancelled"]


class VisitView(Struct, frozen=True):
    """What a carer's device holds of one visit. Owned by the office."""

    id: Id
    branch_id: Id
    client: ClientView
    starts_at: Time
    ends_at: Time
    status: VisitStatus
    carer_ids: list[Id]
    tasks: list[TaskView]
    version: WireInt
    notes: LongText = ""


class VisitUpsert(Struct, tag_field="kind", tag="visit_upsert", frozen=True, omit_defaults=True):
    """The carer has this visit: store it whole, replacing any older copy."""

    visit: VisitView
    needs_seen: bool = False
    """The office asks the carer to acknowledge this change whatever the tenant's window
    (a coordinator marked its notes as needing acknowledgement; :mod:`protocol.seen_policy`)."""


RemovalReason = Literal["reassigned"]


class VisitRemoved(Struct, tag_field="kind", tag="visit_removed", frozen=True):
    """The carer no longer has this visit: delete the local copy."""

    visit_id: Id
    reason: RemovalReason


ChangePayload = VisitUpsert | VisitRemoved


# --------------------------------------------------------------------------- mutations


class Location(Struct, frozen=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0)] | None = None


class MutationBase(Struct, tag_field="kind", frozen=True):
    """Fields of every mutation. ``mutation_id`` is unique and increasing per device."""

    mutation_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_WIRE_INT)]
    carer_id: Id
    visit_id: Id
    captured_at: Time


class CheckIn(MutationBase, tag="check_in", frozen=True):
    location: Location | None = None


class CheckOut(MutationBase, tag="check_out", frozen=True):
    location: Location | None = None


class TaskOutcome(MutationBase, tag="task_outcome", frozen=True):
    task_id: Id
    done: bool
    reason: ShortText | None = None


class VisitNote(MutationBase, tag="visit_note", frozen=True):
    text: LongText


class FormSubmission(MutationBase, tag="form_submission", frozen=True):
    form: ShortText
    data: dict[str, Any]
    """Any JSON object; nesting deeper than the decoder allows is an ``invalid_frame``."""


Mutation = CheckIn | CheckOut | TaskOutcome | VisitNote | FormSubmission

MutationStatus = Literal["applied", "applied_with_conflict", "rejected", "duplicate"]


class MutationResult(Struct, frozen=True):
    """The server's answer for one uploaded mutation.

    A retried mutation answers ``duplicate`` with the first answer's status in
    ``original_status`` and the same ``record_id`` and ``reason``.
    """

    mutation_id: int
    status: MutationStatus
    reason: str | None = None
    record_id: str | None = None
    original_status: MutationStatus | None = None


# --------------------------------------------------------------------------- frames


class Hello(Struct, tag_field="type", tag="hello", frozen=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SHORT_TEXT_CHARS)]
    device_uuid: Id
    app_version: Annotated[str, msgspec.Meta(max_length=MAX_APP_VERSION_CHARS)]
    protocol_version: WireInt
    positions: list[FeedPosition] = []


class Welcome(Struct, tag_field="type", tag="welcome", frozen=True):
    device_id: Id
    server_time: Time
    feeds: list[FeedStatus]
    preferences: TenantPreferences
    heartbeat_interval_s: float
    max_frame_bytes: int


class Change(Struct, tag_field="type", tag="change", frozen=True):
    feed: Id
    epoch: Epoch
    seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_WIRE_INT)]
    committed_at: Time
    payload: ChangePayload


class Ack(Struct, tag_field="type", tag="ack", frozen=True):
    feed: Id
    epoch: Epoch
    seq: Seq


SeenSeqs = Annotated[
    list[Annotated[int, msgspec.Meta(ge=1, le=MAX_WIRE_INT)]],
    msgspec.Meta(min_length=1, max_length=MAX_SEEN_PER_FRAME),
]


class Seen(Struct, tag_field="type", tag="seen", frozen=True):
    """The carer has seen these changes of one feed: the second ledger beside ``ack``
    (which says the phone holds them). Idempotent: a change is recorded once, the first time."""

    request_id: Id
    feed: Id
    epoch: Epoch
    seqs: SeenSeqs
    seen_at: Time


class SeenRecorded(Struct, tag_field="type", tag="seen_recorded", frozen=True):
    """The answer to ``seen``: every change it named is recorded (now or before)."""

    request_id: Id
    feed: Id
    epoch: Epoch
    seqs: list[int]


class Heartbeat(Struct, tag_field="type", tag="heartbeat", frozen=True):
    heads: list[FeedPosition] = []
    server_time: Time | None = None


class SyncRequest(Struct, tag_field="type", tag="sync_request", frozen=True):
    request_id: Id
    mutations: list[Mutation] = []
    positions: list[FeedPosition] = []
    page_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_WIRE_INT)] = 500


class SyncResponse(Struct, tag_field="type", tag="sync_response", frozen=True):
    request_id: Id
    results: list[MutationResult]
    changes: list[Change]
    heads: list[FeedPosition]
    resets: list[Id] = []
    resync: list[Id] = []
    """Feeds that cannot be continued from the device's position: run a clean sync."""
    more: bool = False


class CleanSyncRequest(Struct, tag_field="type", tag="clean_sync_request", frozen=True):
    """Ask for a page of a fresh snapshot of one feed; no cursor starts a new snapshot."""

    request_id: Id
    feed: Id
    cursor: ShortText | None = None
    page_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class CleanSyncResponse(Struct, tag_field="type", tag="clean_sync_response", frozen=True):
    """One page of a snapshot taken at ``(epoch, seq)`` of the feed."""

    request_id: Id
    feed: Id
    snapshot_id: Id
    epoch: Epoch
    seq: Seq
    page: int
    pages: int
    visits: list[VisitView]
    next_cursor: str | None
    """None on the last page: the snapshot is complete."""


class ResyncRequired(Struct, tag_field="type", tag="resync_required", frozen=True):
    """The server asks for a clean sync of these feeds (history gone, reset, or an operator)."""

    feeds: list[Id]
    reason: ShortText


class Preferences(Struct, tag_field="type", tag="preferences", frozen=True):
    """The tenant's preferences changed; they replace the ones from ``welcome``."""

    preferences: TenantPreferences


class Error(Struct, tag_field="type", tag="error", frozen=True):
    code: str
    message: str
    request_id: str | None = None


DeviceFrame = Hello | Ack | Seen | Heartbeat | SyncRequest | CleanSyncRequest
ServerFrame = (
    Welcome
    | Change
    | Heartbeat
    | SyncResponse
    | CleanSyncResponse
    | ResyncRequired
    | Preferences
    | SeenRecorded
    | Error
)
AnyFrame = (
    Hello
    | Welcome
    | Change
    | Ack
    | Seen
    | SeenRecorded
    | Heartbeat
    | SyncRequest
    | SyncResponse
    | CleanSyncRequest
    | CleanSyncResponse
    | ResyncRequired
    | Preferences
    | Error
)
