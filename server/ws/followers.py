"""Which sockets follow each bus channel, held at the cost of one reference for the usual
single follower.

A carer's feed is followed by that carer's one phone nearly always; a set per channel
would cost some 200 bytes per device for a single member. A channel here maps to its
follower itself while it has one, and to a set once it has more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Followers(Generic[T]):
    __slots__ = ("_by_channel",)

    def __init__(self) -> None:
        self._by_channel: dict[str, T | set[T]] = {}

    def add(self, channel: str, follower: T) -> bool:
        """Follow ``channel``; True if nobody followed it before."""
        held = self._by_channel.get(channel)
        if held is None:
            self._by_channel[channel] = follower
            return True
        if isinstance(held, set):
            held.add(follower)
        elif held != follower:
            self._by_channel[channel] = {held, follower}
        return False

    def discard(self, channel: str, follower: T) -> bool:
        """Stop ``follower`` following ``channel``; True if the channel has no follower left
        (it was followed)."""
        held = self._by_channel.get(channel)
        if held is None:
            return False
        if isinstance(held, set):
            held.discard(follower)
            if len(held) == 1:
                self._by_channel[channel] = next(iter(held))
            elif held:
                return False
            else:
                del self._by_channel[channel]
                return True
            return False
        if held == follower:
            del self._by_channel[channel]
            return True
        return False

    def of(self, channel: str) -> list[T]:
        """The followers of ``channel`` now (a copy: following may change while they are told)."""
        held = self._by_channel.get(channel)
        if held is None:
            return []
        return list(held) if isinstance(held, set) else [held]

    def __contains__(self, channel: object) -> bool:
        return channel in self._by_channel

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_channel)
