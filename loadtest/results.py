"""A fleet run's results: every device's final position checked against its feed head in
the store (changes lost, devices behind), alerts raised, ack lag, and the run's figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from loadtest.measure import percentile
from loadtest.seed import BulkAgency
from loadtest.summary import rounded
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
            select(
                device_acks.c.acked_at - feed_entries.c.committed_at,
                feeds.c.head_seq - device_acks.c.seq,
                feed_entries.c.committed_at,
            )
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
        acks = [(float(lag), int(behind), int(committed)) for lag, behind, committed in ack_rows]
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
    lags = scenario_ack_lags(acks, fleet.scenario_started_ms)
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
        "latency_ms": distribution(latencies),
        "lost_changes": lost if not slow else None,
        "devices_behind": behind,
        "slow_devices_note": "slow devices are cut off by design; their loss is not counted" if slow else None,
        "applied_twice": fleet.total("applied_twice"),
        "duplicates_ignored": fleet.total("duplicates"),
        "gap_repairs": fleet.total("syncs"),
        "reconnects": fleet.total("reconnects"),
        "close_codes": fleet.closes(),
        "abnormal_closes": fleet.closes("abnormal"),
        "abnormal_close_after_open_s": distribution(fleet.abnormal_open_s),
        "connect_failures": fleet.closes("connect_failures"),
        "generator_loop_lag_max_ms": fleet.generator_loop_lag_max_ms,
        "mismatch_alerts": alerts,
        "ack_lag_ms": distribution(lags) | {"devices_acked_behind_head": sum(1 for _, behind, _ in acks if behind > 0)},
        "server_cpu_s": round(server_cpu, 2) if server_cpu is not None else None,
        "generator_cpu_s": round(fleet.generator_cpu_s, 2),
        **fleet.notes,
    }


def distribution(values: list[float]) -> dict[str, float | int | None]:
    """p50, p95, p99 and max (None with no values, never NaN) and how many values."""
    figures: dict[str, float | int | None] = {
        name: rounded(percentile(values, q)) for name, q in (("p50", 50), ("p95", 95), ("p99", 99))
    }
    return figures | {"max": rounded(max(values)) if values else None, "samples": len(values)}


def scenario_ack_lags(acks: list[tuple[float, int, int]], scenario_started_ms: int | None) -> list[float]:
    """The lag of each device's last ack, for changes the scenario made.

    ``acks`` holds (lag ms, changes behind head, commit time ms) per device and feed. A
    device whose last ack is of a change seeded before the run (its carer got no change in
    the scenario) is left out: seeded changes are stamped a minute before the seeding, so
    their "lag" is the seeding and start-up, not anything the server did (it read 62 s in a
    35 s run).
    """
    if scenario_started_ms is None:
        return []
    return [lag for lag, _behind, committed in acks if committed >= scenario_started_ms]
