"""The device session's decision tables as data, shared by every device SDK.

Each vector starts a :class:`protocol.device_session.DeviceFeedSession` on some held
positions and runs steps against it: an event with the commands it must return, or a
pushed change with what :meth:`~protocol.device_session.DeviceFeedSession.classify` must
call it. ``tests/protocol/test_session_vectors.py`` runs every vector through the Python
session; the TypeScript SDK runs the same vectors from
``sdk/typescript/test/vectors/device-session.json``, which is this module's JSON::

    python -m protocol.session_vectors > sdk/typescript/test/vectors/device-session.json

A test fails when that file differs from what this module produces, so a rule changed in
one language and not the other fails CI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from protocol.device_session import (
    ApplyChange,
    ChangeArrived,
    ChangeOutcome,
    DeviceCommand,
    DeviceEvent,
    FeedOffer,
    FramePeek,
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
from protocol.frames import FeedPosition

FORMAT = 1
"""Bumped when the JSON's shape changes."""


@dataclass(frozen=True)
class Handle:
    """Hand ``event`` to the session: it returns ``commands``, in order."""

    event: DeviceEvent
    commands: tuple[DeviceCommand, ...]


@dataclass(frozen=True)
class Classify:
    """The session calls the pushed ``change`` ``outcome`` (for counters)."""

    change: ChangeArrived
    outcome: ChangeOutcome


Step = Handle | Classify


@dataclass(frozen=True)
class Vector:
    name: str
    held: tuple[FeedPosition, ...]
    """The positions the device's store holds (they do not move during the vector)."""
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class PeekVector:
    """What :func:`protocol.device_session.peek` reads of a frame that did not decode."""

    raw: str
    seen: FramePeek


def pos(seq: int, epoch: int = 2, feed: str = "f") -> FeedPosition:
    return FeedPosition(feed=feed, epoch=epoch, seq=seq)


def change(seq: int, epoch: int = 2, feed: str = "f") -> ChangeArrived:
    return ChangeArrived(feed=feed, epoch=epoch, seq=seq)


def _one(name: str, held: tuple[FeedPosition, ...], event: DeviceEvent, *commands: DeviceCommand) -> Vector:
    return Vector(name=name, held=held, steps=(Handle(event=event, commands=commands),))


def _pushed() -> list[Vector]:
    held = (pos(5),)
    return [
        _one("push: the next seq is applied, then acked", held, change(6), ApplyChange(feed="f", epoch=2, seq=6),
             SendAck(feed="f", epoch=2, seq=6)),
        _one("push: the stored seq again is a duplicate", held, change(5)),
        _one("push: an older seq is a duplicate", held, change(1)),
        _one("push: a gap starts a standard sync", held, change(8), RunStandardSync()),
        _one("push: another epoch starts a standard sync", held, change(1, epoch=3), RunStandardSync()),
        _one("push: a feed not held is ignored", held, change(1, feed="unknown")),
    ]  # fmt: skip


def _clean_wait() -> list[Vector]:
    return [
        Vector(
            name="push: held back while a clean sync is wanted, applied again after the swap",
            held=(pos(5),),
            steps=(
                Handle(event=ResyncDemanded(feeds=("f",)), commands=(RunCleanSync(feeds=("f",)),)),
                Classify(change=change(6), outcome="ignored"),
                Handle(event=change(6), commands=()),
                Handle(event=SnapshotSwapped(position=pos(5)), commands=()),
                Classify(change=change(6), outcome="apply"),
                Classify(change=change(3), outcome="duplicate"),
                Classify(change=change(9), outcome="repair"),
                Classify(change=change(1, epoch=3), outcome="repair"),
                Classify(change=change(1, feed="unknown"), outcome="ignored"),
            ),
        )
    ]


def _heads() -> list[Vector]:
    held = (pos(5), pos(1, epoch=1, feed="g"))

    def heads(*positions: FeedPosition) -> HeadsAnnounced:
        return HeadsAnnounced(heads=positions)

    return [
        _one("heartbeat: a head equal to the stored seq is in sync", held, heads(pos(5))),
        _one("heartbeat: a head beyond the stored seq starts a standard sync", held, heads(pos(7)), RunStandardSync()),
        _one("heartbeat: a head behind the stored seq resets the feed", held, heads(pos(4)),
             ResetFeed(feed="f", epoch=2), RunStandardSync()),
        _one("heartbeat: another epoch resets the feed", held, heads(pos(5, epoch=3)), ResetFeed(feed="f", epoch=3),
             RunStandardSync()),
        _one("heartbeat: a feed not held is ignored", held, heads(pos(9, feed="unknown"))),
        _one("heartbeat: one sync for every feed behind, after the resets", held,
             heads(pos(7), pos(4, epoch=4, feed="g")), ResetFeed(feed="g", epoch=4), RunStandardSync()),
    ]  # fmt: skip


def _welcome() -> list[Vector]:
    held = (pos(5),)

    def welcomed(name: str, offer: FeedOffer, *commands: DeviceCommand) -> Vector:
        return _one(name, held, Welcomed(feeds=(offer,)), KeepFeeds(feeds=(offer,)), *commands)

    return [
        welcomed("welcome: resume keeps the feed", FeedOffer(feed="f", epoch=2, head=5, action="resume")),
        welcomed("welcome: catch_up keeps the feed (the server replays)",
                 FeedOffer(feed="f", epoch=2, head=9, action="catch_up")),
        welcomed("welcome: catch_up in another epoch resets the feed",
                 FeedOffer(feed="f", epoch=3, head=9, action="catch_up"), ResetFeed(feed="f", epoch=3)),
        welcomed("welcome: reset resets the feed", FeedOffer(feed="f", epoch=2, head=3, action="reset"),
                 ResetFeed(feed="f", epoch=2)),
        welcomed("welcome: clean_sync wants a clean sync", FeedOffer(feed="f", epoch=2, head=9, action="clean_sync"),
                 RunCleanSync(feeds=("f",))),
        welcomed("welcome: a new feed is kept", FeedOffer(feed="new", epoch=1, head=9, action="catch_up")),
    ]  # fmt: skip


def _sync_answers() -> list[Vector]:
    return [
        _one(
            "sync answer: resets first, then changes in order, then one ack per feed, then clean syncs",
            (pos(5), pos(2, epoch=1, feed="g"), pos(1, feed="h")),
            SyncAnswer(
                resets=("g",),
                heads=(pos(7), pos(1, epoch=3, feed="g"), pos(2, epoch=4, feed="h")),
                changes=(pos(5), pos(6), pos(8), pos(1, epoch=3, feed="g"), pos(1, epoch=4, feed="h"),
                         pos(1, feed="x")),
                resync=("f",),
            ),
            ResetFeed(feed="g", epoch=3),
            ApplyChange(feed="f", epoch=2, seq=6),
            ApplyChange(feed="g", epoch=3, seq=1),
            ResetFeed(feed="h", epoch=4),
            ApplyChange(feed="h", epoch=4, seq=1),
            SendAck(feed="f", epoch=2, seq=6),
            SendAck(feed="g", epoch=3, seq=1),
            SendAck(feed="h", epoch=4, seq=1),
            RunCleanSync(feeds=("f",)),
        ),
        _one("sync answer: nothing new commands nothing", (pos(5),),
             SyncAnswer(resets=(), heads=(pos(5),), changes=(pos(5),))),
    ]  # fmt: skip


def _undecodable() -> list[Vector]:
    held = (pos(5), pos(3, feed="g"))

    def cases(name: str, feed: str | None, tracked: tuple[str, ...], cleaned: tuple[str, ...]) -> Vector:
        steps: list[Step] = [
            Handle(
                event=FrameUndecodable(feed=feed, tracked=tracked),
                commands=(RunCleanSync(feeds=cleaned),) if cleaned else (),
            )
        ]
        if cleaned:
            steps.append(Classify(change=change(6, feed=tracked[0]), outcome="ignored"))
        return Vector(name=name, held=held, steps=tuple(steps))

    return [
        cases("undecodable: a frame naming a held feed costs that feed", "f", ("f", "g"), ("f",)),
        cases("undecodable: a frame naming no feed costs every feed", None, ("f", "g"), ("f", "g")),
        cases("undecodable: a frame naming a feed not held costs every feed", "other", ("f", "g"), ("f", "g")),
        cases("undecodable: nothing held, nothing to clean", None, (), ()),
    ]


VECTORS: tuple[Vector, ...] = (*_pushed(), *_clean_wait(), *_heads(), *_welcome(), *_sync_answers(), *_undecodable())

PEEKS: tuple[PeekVector, ...] = (
    PeekVector(raw='{"type":"change","feed":"f","epoch":2,"seq":"six"}', seen=FramePeek(type="change", feed="f")),
    PeekVector(
        raw='{"type":"sync_response","request_id":"r1","changes":7}',
        seen=FramePeek(type="sync_response", request_id="r1"),
    ),
    PeekVector(raw='{"type":"change","feed":5}', seen=FramePeek()),
    PeekVector(raw="[1, 2]", seen=FramePeek()),
    PeekVector(raw="not json", seen=FramePeek()),
)


def _tag(name: str) -> str:
    """``ChangeArrived`` -> ``change_arrived``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def tagged(value: DeviceEvent | DeviceCommand) -> dict[str, Any]:
    """An event or command as JSON data: ``type`` names its class, then its fields."""
    fields: dict[str, Any] = msgspec.to_builtins(value)
    return {"type": _tag(type(value).__name__), **fields}


def _step(step: Step) -> dict[str, Any]:
    if isinstance(step, Handle):
        return {"event": tagged(step.event), "commands": [tagged(c) for c in step.commands]}
    return {"classify": msgspec.to_builtins(step.change), "outcome": step.outcome}


def document() -> dict[str, Any]:
    """Every vector as the JSON document the other SDKs read."""
    return {
        "format": FORMAT,
        "generated_by": "python -m protocol.session_vectors",
        "vectors": [
            {"name": v.name, "held": msgspec.to_builtins(v.held), "steps": [_step(s) for s in v.steps]} for v in VECTORS
        ],
        "peek": [{"raw": p.raw, "seen": msgspec.to_builtins(p.seen)} for p in PEEKS],
    }


def to_json() -> str:
    """The committed file's exact text."""
    return json.dumps(document(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(to_json(), end="")
