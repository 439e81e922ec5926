"""Tokens sitting out the wait their 4005 close named.

A socket closed for too many frames (4005) is told ``retry in N s``. A client that
reconnects at once anyway would make the node authenticate and greet it again (store
reads, and for a console a write) only to close it again, as often as it likes. Until its
wait has passed, a token (by hash) is refused at its hello with the same close, before
anything is read for it. Entries are few and short-lived; the set is bounded all the same
(:data:`MAX_TOKENS`, the oldest forgotten first, which only shortens a wait).
"""

from __future__ import annotations

import math
from collections import OrderedDict

MAX_TOKENS = 10_000
"""Tokens remembered at most."""


class CoolingOff:
    def __init__(self, max_tokens: int = MAX_TOKENS) -> None:
        self.max_tokens = max_tokens
        self._until_ms: OrderedDict[str, int] = OrderedDict()

    def start(self, token_hash: str, until_ms: int) -> None:
        """``token_hash`` is refused until ``until_ms``."""
        self._until_ms.pop(token_hash, None)
        self._until_ms[token_hash] = until_ms
        while len(self._until_ms) > self.max_tokens:
            self._until_ms.popitem(last=False)

    def remaining_s(self, token_hash: str, now_ms: int) -> int:
        """Whole seconds ``token_hash`` must still wait; 0 when it may connect."""
        until_ms = self._until_ms.get(token_hash)
        if until_ms is None:
            return 0
        if until_ms <= now_ms:
            del self._until_ms[token_hash]
            return 0
        return math.ceil((until_ms - now_ms) / 1000)

    def __len__(self) -> int:
        return len(self._until_ms)
