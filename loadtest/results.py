"""A fleet run's results: every device's final position checked against its feed head in
the store (changes lost, devices behind), alerts raised, ack lag, and the run's figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from loadtest.measure import percentile
from loadtest.seed import BulkAgency
from protocol.frames import FeedPosition
from protocol.tracker import Gap, decide_head
from server.store.database import Database
from server.store.schema import device_acks, feed_entries, feeds, mismatch_alerts

if TYPE_CHECKING:
    from loadtest.fleet import Fleet


async def fleet_results(fleet: Fleet, db: Database, agency: BulkAgency, server_cpu: float | None) -> dict[str, Any]:
    """Compare every device's final position with its feed head in the store."""
    positions: dict[str, list[int]] = {}
    for worker in fleet.workers:
        positions.update((worker.final or {}).get("positions", {}))
    async with db.read() as conn:
        heads = {r.carer_id: (r.epoch, r.head_seq) for r in await conn.execute(select(feeds))}
        alerts = int((await conn.execute(select(func.count()).select_from(mismatch_alerts))).scalar_one())
        # Ack lag: from a change's commit to the server recording the device's ack of it.
        ack_rows = await conn.execute(
            select(device_acks.c.acked_at - feed_entries.c.committed_at, feeds.c.head_seq - device_acks.c.seq)
            .join(
                feed_entries,
                and_(
                    feed_entries.c.carer_id == device_acks.c.carer_id,
                    feed_entries.c.epoch == device_acks.c.epoch,
                    feed_entries.c.seq == device_acks.c.seq,
                ),
            )
            .join(feeds, feeds.c.carer_id == device_acks.c.carer_id)
        )
        ack_lags = [(float(lag), int(behind)) for lag, behind in ack_rows]
    slow = fleet.config.scenario == "slow"
    lost = behind = 0
    for device in agency.devices:
        epoch, head = heads[device.carer_id]
        got = positions.get(device.carer_id, [0, 0])
        missing = decide_head(FeedPosition(feed=device.carer_id, epoch=got[0], seq=got[1]), epoch, head)
        if isinstance(missing, Gap):
            lost += missing.last - missing.first + 1
            behind += 1
    latencies = fleet.latencies
    elapsed = max(1e-9, fleet.timeline.seconds[-1] if fleet.timeline.seconds else 1.0)
    return {
        "scenario": fleet.config.scenario,
        "parameters": {
            "devices": fleet.config.devices,
            "workers": fleet.config.workers,
            "rate_per_s": fleet.config.rate,
            "duration_s": fleet.config.duration_s,
            "url": fleet.config.url or "spawned caresync serve (SQLite)",
        },
        "changes_sent": fleet.changes_sent,
        "deliveries": fleet.total("applied"),
        "deliveries_per_s": round(fleet.total("applied") / elapsed, 1),
        "latency_ms": {q: round(percentile(latencies, p), 2) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}
        | {"max": round(max(latencies), 2) if latencies else None, "samples": len(latencies)},
        "lost_changes": lost if not slow else None,
        "devices_behind": behind,
        "slow_devices_note": "slow devices are cut off by design; their loss is not counted" if slow else None,
        "applied_twice": fleet.total("applied_twice"),
        "duplicates_ignored": fleet.total("duplicates"),
        "gap_repairs": fleet.total("syncs"),
        "reconnects": fleet.total("reconnects"),
        "close_codes": fleet.closes(),
        "mismatch_alerts": alerts,
        "ack_lag_ms": {
            "p50": percentile([lag for lag, _ in ack_lags], 50),
            "p99": percentile([lag for lag, _ in ack_lags], 99),
            "devices_acked_behind_head": sum(1 for _, behind in ack_lags if behind > 0),
        },
        "server_cpu_s": round(server_cpu, 2) if server_cpu is not None else None,
        "generator_cpu_s": round(fleet.generator_cpu_s, 2),
        **fleet.notes,
    }
