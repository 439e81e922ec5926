"""What a case body works with: the node, the office, the proxy, the client, and waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.conformance.adapter import AdapterProcess
from server.conformance.client_state import ClientState
from server.conformance.failures import CaseFailed, check
from server.conformance.frame_log import FrameLog, SeenFrame
from server.conformance.node_under_test import NodeUnderTest
from server.conformance.office import Office
from server.conformance.proxy import FaultProxy

__all__ = ["ACK_RECORDED_S", "LEVEL_TIMEOUT_S", "CaseContext", "check"]

POLL_S = 0.1
LEVEL_TIMEOUT_S = 10.0
"""How long a client may take to come level with the node after a change or a fault."""
ACK_RECORDED_S = 5.0
"""How long the node may take to record an ack the client sent."""


@dataclass
class CaseContext:
    nut: NodeUnderTest
    office: Office
    proxy: FaultProxy
    client: AdapterProcess
    log: FrameLog

    @property
    def feed(self) -> str:
        """The client's (first) carer's feed id."""
        return self.nut.carer.id

    # ------------------------------------------------------------ the client

    async def state(self) -> ClientState:
        return ClientState.parse(await self.client.request("state"))

    async def start_client(self, *, connected: bool = True) -> None:
        """Start the client; with ``connected``, wait until it says it is connected."""
        await self.client.request("start")
        if connected:
            await self.wait_state(lambda s: s.connected, "the client to connect and be welcomed")

    async def kill_client(self) -> None:
        await self.client.killed()

    async def restart_client(self) -> None:
        """Start the adapter process again on the same ``state_dir`` and the client in it."""
        await self.client.spawn()
        await self.start_client()

    async def stop_node(self, *, drained: bool = True) -> None:
        """Stop the node (``drained``: closing every socket with 4000 first); new connections wait."""
        self.proxy.upstream_ready.clear()
        await self.nut.stop(drained=drained)

    async def start_node(self) -> None:
        await self.nut.start()
        self.proxy.target_port = self.nut.port
        self.proxy.upstream_ready.set()

    async def restart_node(self, *, drained: bool = True) -> None:
        await self.stop_node(drained=drained)
        await self.start_node()

    # ------------------------------------------------------------ waits

    async def wait_state(
        self, condition: Callable[[ClientState], bool], expected: str, timeout: float = LEVEL_TIMEOUT_S
    ) -> ClientState:
        """Poll the client's state until ``condition`` holds, else fail the case."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.state()
            if condition(state):
                return state
            if time.monotonic() > deadline:
                raise CaseFailed(f"{expected} within {timeout:.0f} s", state.summary())
            await asyncio.sleep(POLL_S)

    async def wait_level(self, timeout: float = LEVEL_TIMEOUT_S, feed: str | None = None) -> ClientState:
        """Wait until the client holds the feed's head and exactly the visits it implies."""
        feed = feed or self.feed
        deadline = time.monotonic() + timeout
        while True:
            head = await self.office.head(feed)
            visits = await self.office.expected_visits(feed)
            state = await self.state()
            if state.positions.get(feed) == head and state.visits.get(feed) == visits:
                return state
            if time.monotonic() > deadline:
                held = state.visits.get(feed)
                raise CaseFailed(
                    f"the client at {head[0]}:{head[1]} holding versions {visits} within {timeout:.0f} s",
                    f"{state.summary()}; holding {held}",
                )
            await asyncio.sleep(POLL_S)

    async def wait_frame(
        self, condition: Callable[[SeenFrame], bool], expected: str, timeout: float = LEVEL_TIMEOUT_S
    ) -> SeenFrame:
        deadline = time.monotonic() + timeout
        while True:
            found = self.log.matching(condition)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise CaseFailed(f"{expected} within {timeout:.0f} s", "not seen (see the frames below)")
            await asyncio.sleep(POLL_S / 2)

    async def wait_until_served_resync(self, timeout: float = LEVEL_TIMEOUT_S) -> None:
        """Wait until the node counts the office's clean-sync demand as done (its last page served)."""
        deadline = time.monotonic() + timeout
        while await self.office.resync_pending():
            if time.monotonic() > deadline:
                raise CaseFailed(f"a completed clean sync within {timeout:.0f} s", "the demand is still open")
            await asyncio.sleep(POLL_S)

    async def wait_recorded_ack(self, expected: str, timeout: float = ACK_RECORDED_S) -> None:
        """Wait until the node records an ack of the feed's head from the client's device."""
        deadline = time.monotonic() + timeout
        while True:
            head = await self.office.head()
            recorded = await self.office.recorded_ack()
            if recorded == head:
                return
            if time.monotonic() > deadline:
                raise CaseFailed(
                    f"{expected}: an ack of {head[0]}:{head[1]} within {timeout:.0f} s", f"recorded {recorded}"
                )
            await asyncio.sleep(POLL_S)

    async def settle(self, seconds: float) -> None:
        """Let the client act on its own for a while (the cases that check what it does NOT do)."""
        await asyncio.sleep(seconds)
