"""Attempt limits for guessable secrets: sign-in passwords and device enrolment codes.

Each limit is a sliding window: at most ``limit`` events per key within ``window_s``.
Keys are a client address or a login. Counts live in this node's memory: behind a load
balancer spreading one client over N nodes, that client gets up to N times the limit
(docs/security.md). The number of keys held is bounded; the oldest are forgotten first.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from dataclasses import dataclass

from server.clock import Clock
from server.services.errors import ServiceError

MAX_KEYS = 50_000
"""Keys remembered per limit; beyond this the least recently seen key is dropped."""


class TooManyAttempts(ServiceError):
    """429 with ``Retry-After``: the caller must wait ``retry_after_s`` before trying again."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Limit:
    limit: int
    window_s: float


SIGN_IN_PER_ADDRESS = Limit(30, 60.0)
"""Sign-in attempts (right or wrong) from one client address per minute."""
SIGN_IN_FAILURES_PER_LOGIN = Limit(10, 15 * 60.0)
"""Wrong passwords for one login per 15 minutes; a correct sign-in clears the count."""
ENROLMENT_PER_ADDRESS = Limit(20, 60.0)
"""Failed enrolment-code attempts from one client address per minute."""


class SlidingWindow:
    """At most ``limit.limit`` events per key in any ``limit.window_s`` seconds."""

    def __init__(self, limit: Limit, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[int]] = OrderedDict()

    def retry_after_s(self, key: str) -> int:
        """0 when another event is allowed now, else the whole seconds until it is."""
        events = self._current(key)
        if events is None or len(events) < self.limit.limit:
            return 0
        wait_ms = events[0] + self.limit.window_s * 1000 - self.clock.now_ms()
        return max(1, math.ceil(wait_ms / 1000))

    def record(self, key: str) -> None:
        events = self._current(key)
        if events is None:
            events = self._events[key] = deque()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        self._events.move_to_end(key)
        events.append(self.clock.now_ms())
        while len(events) > self.limit.limit:
            events.popleft()

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def forget_one(self, key: str) -> None:
        """Take back the latest event of ``key`` (an attempt that turned out legitimate)."""
        events = self._events.get(key)
        if events:
            events.pop()

    def _current(self, key: str) -> deque[int] | None:
        events = self._events.get(key)
        if events is None:
            return None
        horizon = self.clock.now_ms() - self.limit.window_s * 1000
        while events and events[0] <= horizon:
            events.popleft()
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


class SignInThrottle:
    """Per client address (every attempt) and per login (attempts since the last success).

    An attempt counts against its login when it is admitted, before the password is
    checked, so guesses sent all at once are limited like guesses sent one by one; a
    correct sign-in clears the login's count.
    """

    def __init__(self, clock: Clock) -> None:
        self.by_address = SlidingWindow(SIGN_IN_PER_ADDRESS, clock)
        self.by_login = SlidingWindow(SIGN_IN_FAILURES_PER_LOGIN, clock)

    def admit(self, address: str, login: str) -> None:
        """Count an attempt, or refuse it (before any password work is done)."""
        address = address_key(address)
        wait = max(self.by_address.retry_after_s(address), self.by_login.retry_after_s(login))
        if wait:
            raise TooManyAttempts(f"too many sign-in attempts; try again in {wait} s", wait)
        self.by_address.record(address)
        self.by_login.record(login)

    def succeeded(self, login: str) -> None:
        self.by_login.clear(login)


class AddressThrottle:
    """Attempts from one client address (enrolment codes). Each attempt counts when it
    is admitted (so a burst is limited like a trickle); a successful one is taken back,
    so an office enrolling many phones from one address is not held up."""

    def __init__(self, limit: Limit, clock: Clock, what: str) -> None:
        self.window = SlidingWindow(limit, clock)
        self.what = what

    def admit(self, address: str) -> None:
        address = address_key(address)
        wait = self.window.retry_after_s(address)
        if wait:
            raise TooManyAttempts(f"too many {self.what} attempts; try again in {wait} s", wait)
        self.window.record(address)

    def succeeded(self, address: str) -> None:
        self.window.forget_one(address_key(address))
