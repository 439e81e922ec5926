"""The caresync node the client under test talks to: embedded store, in-process bus.

The kit starts it in its own event loop on a temporary SQLite file, seeds one agency
(a carer, the carer's device, a few visits) through the same services the REST API uses,
and can drain it (every socket closed with 4000), restart it on the same database, and
put a backup of its database back (a restore: the feed's head goes behind what devices
hold). The proxy in front of it follows it to its new port.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from server.embedded import RunningServer, start_server, stop_server
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.serving import drain
from server.settings import Settings

HEARTBEAT_INTERVAL_S = 1.0
"""Short, so that a case about heads announced in heartbeats takes seconds, not minutes."""
DRAIN_WINDOW_S = 0.2
DATABASE_FILE = "node.db"


@dataclass
class NodeUnderTest:
    workdir: Path
    starting: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while a node starts: nodes in one process migrate their databases one at a time
    (alembic's migration context is global to the process)."""
    running: RunningServer | None = None
    agency: SeededAgency | None = None

    @property
    def settings(self) -> Settings:
        return Settings(
            database_url=f"sqlite:///{self.workdir / DATABASE_FILE}",
            heartbeat_interval_s=HEARTBEAT_INTERVAL_S,
            ack_flush_interval_s=0.05,
            drain_s=DRAIN_WINDOW_S,
        )

    @property
    def node(self) -> Node:
        if self.running is None:
            raise RuntimeError("the node is not running")
        return self.running.node

    @property
    def port(self) -> int:
        if self.running is None:
            raise RuntimeError("the node is not running")
        return self.running.port

    @property
    def carer(self) -> SeededCarer:
        if self.agency is None:
            raise RuntimeError("the agency is not seeded")
        return self.agency.carers[0]

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        async with self.starting:
            self.running = await start_server(Node.build(self.settings))

    async def seed(self, carers: int = 2, visits_per_carer: int = 3) -> SeededAgency:
        """An agency with ``carers`` carers, each with a device; the first one's is the client's."""
        self.agency = await seed_agency(self.node, carers=carers, clients=2, visits_per_carer=visits_per_carer)
        return self.agency

    async def stop(self, *, drained: bool = True) -> None:
        """Stop the node; ``drained``: close every socket with 4000 first, as a deploy does."""
        if self.running is None:
            return
        if drained:
            await drain(self.running.node, DRAIN_WINDOW_S)
        await stop_server(self.running)
        self.running = None

    def backup(self, name: str) -> None:
        """Copy the database files aside (the node must be stopped)."""
        self._copy(self.workdir, self.workdir / name)

    def restore(self, name: str) -> None:
        """Put a backup back in place of the database (the node must be stopped)."""
        for stale in self.workdir.glob(f"{DATABASE_FILE}*"):
            stale.unlink()
        self._copy(self.workdir / name, self.workdir)

    def _copy(self, source: Path, target: Path) -> None:
        if self.running is not None:
            raise RuntimeError("stop the node before copying its database")
        target.mkdir(parents=True, exist_ok=True)
        for path in source.glob(f"{DATABASE_FILE}*"):
            shutil.copy2(path, target / path.name)
