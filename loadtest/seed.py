"""Seeding large agencies fast, by bulk insert, with real visits, tasks, feed entries
(encoded ``change`` frames), device tokens and an admin token: for the fleet harness and
the sync benchmarks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import insert, select

from protocol.codec import encode
from protocol.frames import Change, ClientView, TaskView, VisitUpsert, VisitView
from server.clock import to_datetime
from server.ids import hash_token, new_token
from server.store.database import Database
from server.store.schema import (
    branches,
    clients,
    credentials,
    device_users,
    devices,
    feed_entries,
    feeds,
    tasks,
    tenants,
    users,
    visit_assignments,
    visits,
)


@dataclass
class BenchDevice:
    carer_id: str
    device_id: str
    uuid: str
    token: str
    visit_ids: list[str] = field(default_factory=list)


@dataclass
class BulkAgency:
    tenant_id: str
    admin_token: str
    devices: list[BenchDevice]


async def bulk_agency(
    db: Database, now_ms: int, carers: int, visits_per_carer: int, tasks_per_visit: int
) -> list[BenchDevice]:
    """One tenant; each carer has a device and ``visits_per_carer`` visits from now on,
    each visit one entry in the carer's feed (so a device at seq 0 downloads them all)."""
    tenant, branch = str(uuid.uuid4()), str(uuid.uuid4())
    client_ids = [str(uuid.uuid4()) for _ in range(10)]
    async with db.write() as conn:
        await conn.execute(insert(tenants).values(id=tenant, name="Bench Care", created_at=now_ms))
        await conn.execute(insert(branches).values(id=branch, tenant_id=tenant, name="North"))
        await conn.execute(
            insert(clients),
            [
                {"id": c, "tenant_id": tenant, "branch_id": branch, "name": f"Client {i}", "address": f"{i} Road"}
                for i, c in enumerate(client_ids)
            ],
        )
    made: list[BenchDevice] = []
    for start in range(0, carers, 50):
        rows: dict[str, list[dict[str, object]]] = {
            k: [] for k in ("users", "feeds", "visits", "assign", "tasks", "entries", "devices", "links", "creds")
        }
        for _ in range(start, min(carers, start + 50)):
            carer, device, token = str(uuid.uuid4()), str(uuid.uuid4()), new_token("cdt")
            made.append(BenchDevice(carer, device, str(uuid.uuid4()), token))
            rows["users"].append(
                {
                    "id": carer,
                    "tenant_id": tenant,
                    "branch_id": branch,
                    "name": f"Carer {len(made)}",
                    "role": "carer",
                    "created_at": now_ms,
                }
            )
            rows["feeds"].append({"carer_id": carer, "tenant_id": tenant, "epoch": 1, "head_seq": visits_per_carer})
            rows["devices"].append(
                {
                    "id": device,
                    "tenant_id": tenant,
                    "branch_id": branch,
                    "uuid": made[-1].uuid,
                    "name": "Phone",
                    "created_at": now_ms,
                }
            )
            rows["links"].append({"device_id": device, "user_id": carer})
            rows["creds"].append(
                {
                    "id": str(uuid.uuid4()),
                    "tenant_id": tenant,
                    "kind": "device",
                    "token_hash": hash_token(token),
                    "device_id": device,
                    "created_at": now_ms,
                }
            )
            for v in range(visits_per_carer):
                visit_id, client = str(uuid.uuid4()), client_ids[v % 10]
                starts, ends = now_ms + (v + 1) * 3_600_000, now_ms + (v + 1) * 3_600_000 + 1_800_000
                task_views = [
                    TaskView(id=str(uuid.uuid4()), title=f"Task {t}", position=t) for t in range(tasks_per_visit)
                ]
                made[-1].visit_ids.append(visit_id)
                rows["visits"].append(
                    {
                        "id": visit_id,
                        "tenant_id": tenant,
                        "branch_id": branch,
                        "client_id": client,
                        "starts_at": starts,
                        "ends_at": ends,
                        "status": "scheduled",
                        "version": 1,
                        "updated_at": now_ms,
                    }
                )
                rows["assign"].append({"visit_id": visit_id, "carer_id": carer, "assigned_at": now_ms})
                rows["tasks"].extend(
                    {"id": t.id, "visit_id": visit_id, "title": t.title, "position": t.position} for t in task_views
                )
                view = VisitView(
                    id=visit_id,
                    branch_id=branch,
                    client=ClientView(id=client, name=f"Client {v % 10}", address=f"{v % 10} Road"),
                    starts_at=to_datetime(starts),
                    ends_at=to_datetime(ends),
                    status="scheduled",
                    carer_ids=[carer],
                    tasks=task_views,
                    version=1,
                )
                frame = encode(
                    Change(
                        feed=carer,
                        epoch=1,
                        seq=v + 1,
                        committed_at=to_datetime(now_ms),
                        payload=VisitUpsert(visit=view),
                    )
                )
                rows["entries"].append(
                    {
                        "carer_id": carer,
                        "epoch": 1,
                        "seq": v + 1,
                        "visit_id": visit_id,
                        "committed_at": now_ms - 60_000,
                        "frame": frame.decode(),
                        "summary": "new visit",
                    }
                )
        async with db.write() as conn:
            for table, key in (
                (users, "users"),
                (feeds, "feeds"),
                (visits, "visits"),
                (visit_assignments, "assign"),
                (tasks, "tasks"),
                (feed_entries, "entries"),
                (devices, "devices"),
                (device_users, "links"),
                (credentials, "creds"),
            ):
                if rows[key]:
                    await conn.execute(insert(table), rows[key])
    return made


async def bulk_agency_with_admin(
    db: Database, now_ms: int, carers: int, visits_per_carer: int, tasks_per_visit: int
) -> BulkAgency:
    """``bulk_agency`` plus an admin user and staff token for the REST API."""
    made = await bulk_agency(db, now_ms, carers, visits_per_carer, tasks_per_visit)
    async with db.read() as conn:
        tenant_id = (await conn.execute(select(users.c.tenant_id).where(users.c.id == made[0].carer_id))).scalar_one()
    admin_id, token = str(uuid.uuid4()), new_token("cst")
    async with db.write() as conn:
        await conn.execute(
            insert(users).values(id=admin_id, tenant_id=tenant_id, name="Fleet admin", role="admin", created_at=now_ms)
        )
        await conn.execute(
            insert(credentials).values(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                kind="staff",
                token_hash=hash_token(token),
                user_id=admin_id,
                created_at=now_ms,
            )
        )
    return BulkAgency(tenant_id=tenant_id, admin_token=token, devices=made)
