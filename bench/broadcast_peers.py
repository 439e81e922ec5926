"""The broadcast peers bench/fanout.py can run beside caresync, by the name ``--peers`` takes.

Every peer is a server on a port (``python -m MODULE PORT [ARGS]``) that prints ``ready``
once it listens; clients send one message, and a control socket's ``fanout`` makes it
send one ~250-byte frame to every client (see bench/peers/ws_broadcast.py).
"""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class BroadcastPeer:
    label: str
    """How the report names it."""
    command: tuple[str, ...]
    """``-m MODULE`` and the arguments after the port."""
    optional: tuple[str, ...] = ()
    """Packages it needs that caresync does not install."""

    def module_args(self, port: int) -> list[str]:
        module, *rest = self.command
        return ["-m", module, str(port), *rest]

    def missing(self) -> list[str]:
        """The optional packages that are not installed (the peer is skipped then)."""
        return [name for name in self.optional if importlib.util.find_spec(name) is None]


PEERS = {
    "websockets": BroadcastPeer("peer websockets.broadcast", ("bench.peers.ws_broadcast",)),
    "sansio": BroadcastPeer("peer websockets sans-I/O", ("bench.peers.sansio_broadcast",)),
    "wsproto": BroadcastPeer("peer wsproto", ("bench.peers.wsproto_broadcast",)),
    "picows": BroadcastPeer("peer picows", ("bench.peers.picows_broadcast", "asyncio"), ("picows",)),
    "picows-2k": BroadcastPeer(
        "peer picows, 2 KiB reads", ("bench.peers.picows_broadcast", "asyncio", "2048"), ("picows",)
    ),
    "picows-aiofastnet": BroadcastPeer(
        "peer picows + aiofastnet", ("bench.peers.picows_broadcast", "aiofastnet"), ("picows", "aiofastnet")
    ),
}
"""By name, in the order the report lists them."""


def peer_names(text: str) -> list[str]:
    """``--peers``: comma-separated names from :data:`PEERS`, each once."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown peer {', '.join(unknown) or '(none given)'}; known: {', '.join(PEERS)}"
        )
    return list(dict.fromkeys(names))
