"""Everything one server node holds, wired together once at start-up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from server.bus.base import Bus
from server.bus.factory import bus_for
from server.clock import Clock, SystemClock
from server.cluster.leases import ClusterJob
from server.cluster.presence import Presence
from server.console.socket_quota import StaffSocketQuota
from server.observability.instruments import LOOP_LAG
from server.schema_policy import apply_migrate_policy
from server.services.activity import ActivityRecorder
from server.services.clean_sync import CleanSyncService
from server.services.devices import DeviceService
from server.services.directory import DirectoryService
from server.services.mismatch.detector import MismatchDetector
from server.services.retention import compact_feeds, prune_upload_ledger
from server.services.rota import RotaService
from server.services.seen_alerts.detector import SeenAlerts
from server.services.seen_ledger import SeenLedger
from server.services.shared_limits import SharedLimits
from server.services.staff_auth import StaffAuth
from server.services.sync import SyncService
from server.services.tenant_prefs import PreferencesCache
from server.services.throttle import ENROLMENT_PER_ADDRESS, AddressThrottle, StoreBounds
from server.services.token_bucket import DEVICES_REMEMBERED, Rate, TokenBuckets
from server.services.upload_quota import UploadQuota
from server.services.visit_alerts.detector import LateVisits
from server.services.visit_status_feed import VisitStatusFeed
from server.settings import Settings
from server.startup import StartupError, check_database, redacted
from server.store.database import Database
from server.tunables import SEEN_DETECTION_INTERVAL_S
from server.ws.cooling_off import CoolingOff
from server.ws.effects import EffectRelay
from server.ws.hub import Hub

log = logging.getLogger(__name__)


@dataclass
class Node:
    node_id: str
    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    hub: Hub
    effects: EffectRelay
    activity: ActivityRecorder
    presence: Presence
    jobs: list[ClusterJob]
    devices: DeviceService
    directory: DirectoryService
    rota: RotaService
    sync: SyncService
    clean_sync: CleanSyncService
    mismatch: MismatchDetector
    seen: SeenLedger
    """The carers' acknowledgements (docs/protocol.md 4b)."""
    seen_alerts: SeenAlerts
    late_visits: LateVisits
    visit_status: VisitStatusFeed
    staff_auth: StaffAuth
    preferences: PreferencesCache
    enrolment_throttle: AddressThrottle
    console_sockets: StaffSocketQuota
    """Console sockets each staff user holds on this node (docs/security.md)."""
    cooling_off: CoolingOff
    """Tokens whose socket was closed 4005, refused at hello until their wait has passed."""
    device_calls: TokenBuckets
    """Each device's budget of HTTP sync calls (docs/security.md, "What one device can cost")."""
    shared_limits: SharedLimits | None = None
    """With Redis: the cluster's sign-in and enrolment counts (docs/security.md, "Rate limits")."""

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, bus: Bus | None = None) -> Node:
        clock = clock or SystemClock()
        if bus is None:
            bus = bus_for(settings.redis_url)
        node_id = settings.node_id or f"node-{uuid.uuid4().hex[:12]}"
        db = Database(settings.database_url, pool_size=settings.database_pool_size)
        devices = DeviceService(db, clock, bus)
        presence = Presence(db, clock, node_id, settings.ack_flush_interval_s, bus, settings.presence_interval_s)
        hub = Hub(db, bus, clock, settings.heartbeat_interval_s, presence)
        detector = MismatchDetector(
            db, bus, clock, available_from=presence.available_from, remove_dead_nodes=presence.remove_dead_nodes
        )
        throttle_bounds = StoreBounds(settings.rate_limit_max_keys, settings.rate_limit_max_bytes)
        shared_limits = SharedLimits(settings.redis_url) if settings.redis_url else None
        activity = ActivityRecorder(db, clock, settings.ack_flush_interval_s, detector.resolve_covered, bus)
        node = cls(
            node_id=node_id,
            settings=settings,
            clock=clock,
            db=db,
            bus=bus,
            hub=hub,
            effects=hub.effects,
            activity=activity,
            presence=presence,
            jobs=[],
            devices=devices,
            directory=DirectoryService(db, clock),
            rota=RotaService(db, bus, clock),
            sync=SyncService(db, clock, activity, UploadQuota(settings.device_upload_bytes_per_day)),
            clean_sync=CleanSyncService(db, clock, activity),
            mismatch=detector,
            seen=SeenLedger(db, clock, activity),
            seen_alerts=SeenAlerts(db, bus, clock),
            late_visits=LateVisits(db, bus, clock),
            visit_status=VisitStatusFeed(db, bus, clock),
            staff_auth=StaffAuth(db, clock, bus=bus, throttle_bounds=throttle_bounds, shared_limits=shared_limits),
            preferences=PreferencesCache(clock),
            enrolment_throttle=AddressThrottle(
                ENROLMENT_PER_ADDRESS, clock, "enrolment", throttle_bounds, shared_limits
            ),
            console_sockets=StaffSocketQuota(settings.console_sockets_per_user),
            cooling_off=CoolingOff(),
            device_calls=TokenBuckets(
                Rate(settings.device_requests_per_s, settings.device_request_burst), DEVICES_REMEMBERED
            ),
            shared_limits=shared_limits,
        )
        node.jobs.append(
            ClusterJob(
                "remove-dead-nodes", settings.presence_interval_s * 2, node._remove_dead_nodes, db, clock, node_id
            )
        )
        node.seen.on_recorded.append(node.seen_alerts.on_seen)
        node.sync.on_checked_in.append(node.late_visits.on_check_in)
        node.sync.on_attended.append(node.visit_status.announce)
        node.rota.on_status_changed.append(node.visit_status.announce)
        node.jobs.append(ClusterJob("feed-retention", settings.retention_interval_s, node._compact, db, clock, node_id))
        if settings.mismatch_interval_s > 0:
            node.jobs.append(
                ClusterJob("mismatch-detection", settings.mismatch_interval_s, node._detect, db, clock, node_id)
            )
            every = max(settings.mismatch_interval_s, SEEN_DETECTION_INTERVAL_S)
            node.jobs.append(ClusterJob("seen-detection", every, node._detect_unseen, db, clock, node_id))
        return node

    async def _detect(self) -> None:
        report = await self.mismatch.run_once()
        if report.raised or report.resolved:
            log.info("sync-mismatch pass: %s", report)

    async def _detect_unseen(self) -> None:
        """The "delivered but not seen", late-visit and visit-status passes (docs/protocol.md 10)."""
        for report in (await self.seen_alerts.run_once(), await self.late_visits.run_once()):
            if report.raised or report.resolved:
                log.info("pass: %s", report)
        announced = await self.visit_status.run_once()
        if announced:
            log.info("visit-status pass: %d visit(s) turned late or missed", announced)

    async def _compact(self) -> None:
        report = await compact_feeds(self.db, self.clock)
        if report.entries_removed:
            log.info("feed retention: %s", report)
        pruned = await prune_upload_ledger(self.db, self.clock, self.settings.rejected_mutation_retention_days)
        if pruned.rejected_mutations_removed:
            log.info("rejected-mutation retention: %s", pruned)
        await self.db.refresh_statistics()  # SQLite: the planner's statistics, once an interval

    async def _remove_dead_nodes(self) -> None:
        removed = await self.presence.remove_dead_nodes()
        if removed:
            log.warning("removed %d dead node(s) and their device connections", removed)

    loop_lag_max_ms: float = 0.0
    """Worst event-loop lag seen since start (/healthz and /metrics show it; reading never resets it)."""

    @property
    def draining(self) -> bool:
        """Set when the node starts shutting down: /readyz answers 503 from then on, and the
        node's presence tells the cluster (its disconnects are cuts by the server)."""
        return self.presence.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self.presence.draining = value

    async def _watch_loop(self) -> None:
        while True:
            before = asyncio.get_running_loop().time()
            await asyncio.sleep(0.1)
            lag = (asyncio.get_running_loop().time() - before - 0.1) * 1000
            self.loop_lag_max_ms = max(self.loop_lag_max_ms, lag)
            LOOP_LAG.observe(max(0.0, lag / 1000))

    async def start(self) -> None:
        """Check the URLs, migrate, join the cluster. Raise :class:`StartupError` on failure."""
        await check_database(self.db, self.settings.database_url)
        await apply_migrate_policy(self.db, self.settings.migrate)
        try:
            await self.bus.start()
        except (RedisError, OSError) as exc:
            await self.db.close()
            raise StartupError(f"cannot reach Redis at {redacted(self.settings.redis_url or '')}: {exc}") from exc
        self.bus.set_reconnect_hook(self.hub.beat)
        await self.presence.register()
        self.presence.start()
        self.hub.start()
        await self.effects.listen()
        self.effects.start()
        self.activity.start()
        for job in self.jobs:
            job.start()
        self._loop_watch = asyncio.create_task(self._watch_loop(), name="loop-lag")

    async def stop(self) -> None:
        watcher = getattr(self, "_loop_watch", None)
        if watcher is not None:
            watcher.cancel()
        for job in self.jobs:
            await job.stop()
        await self.effects.stop()
        await self.hub.stop()
        await self.activity.stop()
        await self.presence.retire()
        await self.bus.close()
        if self.shared_limits is not None:
            await self.shared_limits.close()
        await self.db.close()
