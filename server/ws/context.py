"""What a socket session needs from its node, named without importing the node.

``server/node.py`` builds the hub (``server/ws/hub.py``); the sessions need the node's
services back. Typing them against this protocol instead of ``Node`` keeps the
dependency one way: ``server/ws/`` never imports ``server/node.py``.
"""

from __future__ import annotations

from typing import Protocol

from server.clock import Clock
from server.console.socket_quota import StaffSocketQuota
from server.services.activity import ActivityRecorder
from server.services.clean_sync import CleanSyncService
from server.services.seen_ledger import SeenLedger
from server.services.sync import SyncService
from server.services.tenant_prefs import PreferencesCache
from server.settings import Settings
from server.store.database import Database
from server.ws.cooling_off import CoolingOff
from server.ws.effects import EffectRelay
from server.ws.hub import Hub


class SocketContext(Protocol):
    """The parts of a node a device or console socket uses (a :class:`~server.node.Node` is one)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def db(self) -> Database: ...
    @property
    def hub(self) -> Hub: ...
    @property
    def effects(self) -> EffectRelay: ...
    @property
    def activity(self) -> ActivityRecorder: ...
    @property
    def sync(self) -> SyncService: ...
    @property
    def clean_sync(self) -> CleanSyncService: ...
    @property
    def seen(self) -> SeenLedger: ...
    @property
    def preferences(self) -> PreferencesCache: ...
    @property
    def console_sockets(self) -> StaffSocketQuota: ...
    @property
    def cooling_off(self) -> CoolingOff: ...
