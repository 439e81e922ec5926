"""What one device socket may send: a token bucket of frames, and how long it may go on
sending beyond it before it is closed (docs/security.md, "What one device can cost").

A frame beyond the bucket is not decoded or handled: the device gets a ``rate_limited``
error for it and the socket stays open. A socket that has had more than
:data:`REFUSED_BEFORE_CLOSE` frames refused within :data:`REFUSED_WINDOW_S` keeps sending
after being told, and is closed with 4005 (reconnect after the wait its reason names).
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from server.services.token_bucket import Rate, TokenBucket, cost_of

REFUSED_BEFORE_CLOSE = 50
"""Refused frames within :data:`REFUSED_WINDOW_S` that close the socket (the 50th does)."""
REFUSED_WINDOW_S = 10.0
RECONNECT_AFTER_S = 10
"""The wait the 4005 close reason names (``retry in N s``)."""


class Verdict(Enum):
    ADMIT = "admit"
    REFUSE = "refuse"
    CLOSE = "close"


class FrameBudget:
    __slots__ = ("_bucket", "_refused_at")

    def __init__(self, rate: Rate, now_ms: int) -> None:
        self._bucket = TokenBucket(rate, now_ms)
        self._refused_at: deque[int] | None = None
        """When the latest refusals happened (made on the first refusal: most sockets never have one)."""

    def judge(self, size_bytes: int, now_ms: int) -> Verdict:
        """Take a frame of ``size_bytes`` from the budget, or say whether to refuse it or
        close the socket."""
        if self._bucket.take(cost_of(size_bytes), now_ms) == 0.0:
            return Verdict.ADMIT
        refused = self._refused_at
        if refused is None:
            refused = self._refused_at = deque(maxlen=REFUSED_BEFORE_CLOSE)
        refused.append(now_ms)
        if len(refused) == REFUSED_BEFORE_CLOSE and now_ms - refused[0] <= REFUSED_WINDOW_S * 1000:
            return Verdict.CLOSE
        return Verdict.REFUSE
