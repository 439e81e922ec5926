"""Everything one server node holds, wired together once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from server.bus.base import Bus
from server.bus.memory import MemoryBus
from server.clock import Clock, SystemClock
from server.services.acks import AckRecorder
from server.services.devices import DeviceService
from server.services.directory import DirectoryService
from server.services.rota import RotaService
from server.services.sync import SyncService
from server.settings import Settings
from server.store.database import Database
from server.ws.hub import Hub


@dataclass
class Node:
    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    hub: Hub
    acks: AckRecorder
    devices: DeviceService
    directory: DirectoryService
    rota: RotaService
    sync: SyncService

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, bus: Bus | None = None) -> Node:
        clock = clock or SystemClock()
        bus = bus or MemoryBus()
        db = Database(settings.database_url)
        devices = DeviceService(db, clock)
        return cls(
            settings=settings,
            clock=clock,
            db=db,
            bus=bus,
            hub=Hub(db, bus, settings.heartbeat_interval_s),
            acks=AckRecorder(db, clock, settings.ack_flush_interval_s),
            devices=devices,
            directory=DirectoryService(db, clock),
            rota=RotaService(db, bus, clock),
            sync=SyncService(db, clock, devices),
        )

    async def start(self) -> None:
        await self.db.migrate()
        await self.bus.start()
        self.hub.start()
        self.acks.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.acks.stop()
        await self.bus.close()
        await self.db.close()
