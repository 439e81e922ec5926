"""What an attempt limit is, and the form its keys are kept in: shared by the node's own
stores (:mod:`server.services.throttle`) and the cluster's (:mod:`server.services.shared_limits`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

KEY_DIGEST_BYTES = 16


@dataclass(frozen=True)
class Limit:
    limit: int
    window_s: float


def key_digest(key: str) -> bytes:
    """The 16 bytes a key is kept as (in memory and in Redis), never the key as given."""
    return hashlib.blake2b(key.encode(errors="surrogatepass"), digest_size=KEY_DIGEST_BYTES).digest()
