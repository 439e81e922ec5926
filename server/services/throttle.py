"""Attempt limits for guessable secrets: sign-in passwords and device enrolment codes.

Each limit is a sliding window: at most ``limit`` events per key within ``window_s``.
Keys are a client address or a login. With Redis configured the counts are the
cluster's, kept in Redis (:mod:`server.services.shared_limits`), so a client spread over N
nodes by a load balancer still gets the limit once; without Redis, or while Redis does not
answer, they live in this node's memory, in the bounded stores below (docs/security.md).

A store is bounded by its number of keys and by its bytes. Keys are kept as a 16-byte
digest, never as given (a 200 KB login costs what a short one does), and each key's
attempt times sit in one compact array, so the most a key can cost is known up front and
the byte bound becomes a bound on keys. When the store is full, the key forgotten is,
among the ``EVICTION_SAMPLE`` keys seen longest ago, the one holding the fewest attempts
within its window (a key whose window has passed holds none and goes first). A key at its
limit is therefore not flushed by a flood of fresh keys: it goes only once the keys seen
right after it hold as many attempts as it does, so winning back one key's limit costs
at least ``EVICTION_SAMPLE - 1`` full limits of counted attempts.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import math
import sys
from array import array
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from server.clock import Clock
from server.services.errors import ServiceError
from server.services.limit_keys import KEY_DIGEST_BYTES, Limit, key_digest

if TYPE_CHECKING:
    from server.services.shared_limits import SharedLimits, SharedWindow

log = logging.getLogger(__name__)

SHARED_STORE_ERRORS = (RedisError, OSError)
"""What a shared count may raise when Redis does not answer: the node then counts alone."""

MAX_KEYS = 50_000
"""Keys remembered per limit, at most (the ``rate_limit_max_keys`` setting)."""
MAX_BYTES = 4 * 1024 * 1024
"""Bytes of memory per limit's store, at most (the ``rate_limit_max_bytes`` setting)."""
EVICTION_SAMPLE = 16
"""Keys seen longest ago that a full store compares to choose the one it forgets."""
ENTRY_OVERHEAD_BYTES = 192
"""A key's share of the store's hash table and order links (measured up to ~170 bytes on
CPython 3.11 as keys come and go)."""


class TooManyAttempts(ServiceError):
    """429 with ``Retry-After``: the caller must wait ``retry_after_s`` before trying again."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class StoreBounds:
    """How much one limit's store may hold: keys, and bytes of memory."""

    max_keys: int = MAX_KEYS
    max_bytes: int = MAX_BYTES


SIGN_IN_PER_ADDRESS = Limit(30, 60.0)
"""Sign-in attempts (right or wrong) from one client address per minute."""
SIGN_IN_FAILURES_PER_LOGIN = Limit(10, 15 * 60.0)
"""Wrong passwords for one login per 15 minutes; a correct sign-in clears the count."""
ENROLMENT_PER_ADDRESS = Limit(20, 60.0)
"""Failed enrolment-code attempts from one client address per minute."""


def entry_bytes(limit: Limit) -> int:
    """The most one key of ``limit`` costs: its digest, a full array of attempt times
    (grown one append at a time to one over the limit, as the store grows it before
    trimming) and its table overhead."""
    times = array("q")
    for _ in range(limit.limit + 1):
        times.append(0)
    return sys.getsizeof(bytes(KEY_DIGEST_BYTES)) + sys.getsizeof(times) + ENTRY_OVERHEAD_BYTES


class SlidingWindow:
    """At most ``limit.limit`` events per key in any ``limit.window_s`` seconds."""

    def __init__(self, limit: Limit, clock: Clock, max_keys: int = MAX_KEYS, max_bytes: int = MAX_BYTES) -> None:
        self.limit = limit
        self.clock = clock
        self.capacity = max(1, min(max_keys, max_bytes // entry_bytes(limit)))
        """Keys held at most: the count bound, or fewer when the byte bound says so."""
        self._events: OrderedDict[bytes, array[int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def retry_after_s(self, key: str) -> int:
        """0 when another event is allowed now, else the whole seconds until it is."""
        events = self._current(key_digest(key))
        if events is None or len(events) < self.limit.limit:
            return 0
        wait_ms = events[0] + self.limit.window_s * 1000 - self.clock.now_ms()
        return max(1, math.ceil(wait_ms / 1000))

    def record(self, key: str) -> None:
        digest = key_digest(key)
        events = self._current(digest)
        if events is None:
            if len(self._events) >= self.capacity:
                self._forget_least_held()
            events = self._events[digest] = array("q")
        self._events.move_to_end(digest)
        events.append(self.clock.now_ms())
        if len(events) > self.limit.limit:
            del events[0]

    def clear(self, key: str) -> None:
        self._events.pop(key_digest(key), None)

    def forget_one(self, key: str) -> None:
        """Take back the latest event of ``key`` (an attempt that turned out legitimate)."""
        events = self._events.get(key_digest(key))
        if events:
            events.pop()

    def _forget_least_held(self) -> None:
        """Forget, among the keys seen longest ago, the one with the fewest live attempts."""
        sample = list(itertools.islice(self._events, EVICTION_SAMPLE))
        held = [(len(self._current(digest) or ()), index) for index, digest in enumerate(sample)]
        _, index = min(held)
        del self._events[sample[index]]

    def _current(self, digest: bytes) -> array[int] | None:
        events = self._events.get(digest)
        if events is None:
            return None
        horizon = self.clock.now_ms() - self.limit.window_s * 1000
        expired = 0
        while expired < len(events) and events[expired] <= horizon:
            expired += 1
        if expired:
            del events[:expired]
        return events


def address_key(address: str) -> str:
    """The key a client address is counted under: an IPv6 address by its /64 (one
    subscriber's network, whose 2**64 addresses are one client's), anything else as is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


async def _shared(count: Awaitable[int], shared: SharedLimits) -> int | None:
    """A shared count's answer, or None when Redis did not answer (logged once an outage)."""
    try:
        wait = await count
    except SHARED_STORE_ERRORS as exc:
        if shared.answering:
            log.warning("rate limits: Redis does not answer (%s); counting in this node's memory until it does", exc)
        shared.answering = False
        return None
    if not shared.answering:
        log.info("rate limits: Redis answers again; counting for the cluster")
    shared.answering = True
    return wait


class SignInThrottle:
    """Per client address (every attempt) and per login (attempts since the last success).

    An attempt counts against its login when it is admitted, before the password is
    checked, so guesses sent all at once are limited like guesses sent one by one; a
    correct sign-in clears the login's count. With ``shared`` the counts are the
    cluster's (in Redis); the node's own stores stand in while Redis does not answer.
    """

    def __init__(self, clock: Clock, bounds: StoreBounds | None = None, shared: SharedLimits | None = None) -> None:
        bounds = bounds or StoreBounds()
        self.by_address = SlidingWindow(SIGN_IN_PER_ADDRESS, clock, bounds.max_keys, bounds.max_bytes)
        self.by_login = SlidingWindow(SIGN_IN_FAILURES_PER_LOGIN, clock, bounds.max_keys, bounds.max_bytes)
        self.shared = shared
        self.shared_by_address = shared.window("sign-in-address", SIGN_IN_PER_ADDRESS) if shared else None
        self.shared_by_login = shared.window("sign-in-login", SIGN_IN_FAILURES_PER_LOGIN) if shared else None

    async def admit(self, address: str, login: str | None) -> None:
        """Count an attempt, or refuse it (before any password work is done).

        ``login`` None: an attempt that will be refused for its form (a login or password
        over its length), counted against its address only, so its login is never a key.
        """
        address = address_key(address)
        if self.shared is not None:
            wait = await _shared(self._admit_shared(address, login), self.shared)
            if wait is not None:
                self._refuse_if(wait)
                return
        by_login = self.by_login.retry_after_s(login) if login is not None else 0
        self._refuse_if(max(self.by_address.retry_after_s(address), by_login))
        self.by_address.record(address)
        if login is not None:
            self.by_login.record(login)

    async def _admit_shared(self, address: str, login: str | None) -> int:
        assert self.shared_by_address is not None and self.shared_by_login is not None
        if login is not None and (wait := await self.shared_by_login.retry_after_s(login)):
            return wait
        if wait := await self.shared_by_address.hit(address):
            return wait
        return await self.shared_by_login.hit(login) if login is not None else 0

    @staticmethod
    def _refuse_if(wait: int) -> None:
        if wait:
            raise TooManyAttempts(f"too many sign-in attempts; try again in {wait} s", wait)

    async def succeeded(self, login: str) -> None:
        self.by_login.clear(login)
        if self.shared is not None and self.shared_by_login is not None:
            await _shared(_cleared(self.shared_by_login, login), self.shared)


async def _cleared(window: SharedWindow, key: str) -> int:
    await window.clear(key)
    return 0


async def _taken_back(window: SharedWindow, key: str) -> int:
    await window.forget_one(key)
    return 0


class AddressThrottle:
    """Attempts from one client address (enrolment codes). Each attempt counts when it
    is admitted (so a burst is limited like a trickle); a successful one is taken back,
    so an office enrolling many phones from one address is not held up. With ``shared``
    the counts are the cluster's, as :class:`SignInThrottle`'s."""

    def __init__(
        self,
        limit: Limit,
        clock: Clock,
        what: str,
        bounds: StoreBounds | None = None,
        shared: SharedLimits | None = None,
    ) -> None:
        bounds = bounds or StoreBounds()
        self.window = SlidingWindow(limit, clock, bounds.max_keys, bounds.max_bytes)
        self.what = what
        self.shared = shared
        self.shared_window = shared.window(what, limit) if shared else None

    async def admit(self, address: str) -> None:
        address = address_key(address)
        if self.shared is not None and self.shared_window is not None:
            wait = await _shared(self.shared_window.hit(address), self.shared)
            if wait is not None:
                self._refuse_if(wait)
                return
        self._refuse_if(self.window.retry_after_s(address))
        self.window.record(address)

    def _refuse_if(self, wait: int) -> None:
        if wait:
            raise TooManyAttempts(f"too many {self.what} attempts; try again in {wait} s", wait)

    async def succeeded(self, address: str) -> None:
        address = address_key(address)
        shared, window = self.shared, self.shared_window
        if (
            shared is not None
            and window is not None
            and await _shared(_taken_back(window, address), shared) is not None
        ):
            return
        self.window.forget_one(address)
