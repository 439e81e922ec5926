"""Applying uploaded device mutations exactly once, never dropping care records.

Ownership rule: the office owns the schedule, the carer owns what happened. A record
against a visit that was cancelled, reassigned away, or whose task was removed is stored
with a ``conflict`` flag for the office. Only records that can never have been the
carer's (unknown visit, a visit the carer was never assigned, a carer not on the device)
are rejected; the ledger keeps their result (so a retry is answered the same) and the
start of their body, until the rejected-mutation retention removes them.

A request's mutations are judged against state read in a handful of batched queries and
written with two multi-row inserts, however many mutations it carries. What they add to
the store is charged to the device's daily upload quota in the same transaction
(:mod:`server.services.upload_quota`): an upload past it is rolled back whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.errors import ConflictReason, RejectReason
from protocol.frames import Mutation, MutationResult, MutationStatus, TaskOutcome
from server.clock import to_ms
from server.ids import new_id
from server.services.identity import DeviceIdentity
from server.services.upload_quota import UploadQuota, kept_body, stored_bytes
from server.store.schema import care_records, device_mutations, tasks, visit_assignments, visits


@dataclass(frozen=True)
class _Verdict:
    status: MutationStatus
    reason: str | None = None


@dataclass
class _Known:
    """What the store says about the visits, assignments and tasks a request refers to."""

    ledger: dict[int, Any]
    visit_status: dict[str, str]
    unassigned_at: dict[tuple[str, str], int | None]
    task_removed: dict[tuple[str, str], bool]


async def apply_mutations(
    conn: AsyncConnection,
    device: DeviceIdentity,
    mutations: list[Mutation],
    now_ms: int,
    quota: UploadQuota | None = None,
    request_id: str | None = None,
) -> list[MutationResult]:
    """Apply each mutation once inside the caller's transaction; answer each one in order.

    Raises :class:`~server.services.upload_quota.UploadQuotaExceeded` (nothing applied)
    when what the new mutations add would pass the device's quota for the day.

    The same upload may be running on another node (a device retried after a cut
    connection): the loser of the race on the ledger's key rolls back to a savepoint and
    judges again, now seeing the winner's entries, so it answers ``duplicate``.
    """
    if not mutations:
        return []
    for _attempt in range(_RACE_RETRIES):
        try:
            async with conn.begin_nested():
                return await _apply(conn, device, mutations, now_ms, quota, request_id)
        except IntegrityError:
            continue
    async with conn.begin_nested():
        return await _apply(conn, device, mutations, now_ms, quota, request_id)


_RACE_RETRIES = 2
_ID_COLUMN_CHARS = 36
"""Ids in the store are UUIDs; a longer id cannot name anything there (it is rejected)."""


async def _apply(
    conn: AsyncConnection,
    device: DeviceIdentity,
    mutations: list[Mutation],
    now_ms: int,
    quota: UploadQuota | None,
    request_id: str | None,
) -> list[MutationResult]:
    known = await _load(conn, device, mutations)
    results: list[MutationResult] = []
    records: list[dict[str, object]] = []
    ledger: list[dict[str, object]] = []
    charged = 0
    for m in mutations:
        earlier = known.ledger.get(m.mutation_id)
        if earlier is not None:
            results.append(
                MutationResult(
                    mutation_id=m.mutation_id,
                    status="duplicate",
                    reason=earlier["reason"],
                    record_id=earlier["record_id"],
                    original_status=earlier["status"],
                )
            )
            continue
        verdict = _judge(device, m, known)
        record_id = None if verdict.status == "rejected" else new_id()
        kind = type(m).__struct_config__.tag
        payload = kept_body(msgspec.json.encode(m).decode(), rejected=record_id is None)
        charged += stored_bytes(len(payload.encode()), applied=record_id is not None)
        if record_id is not None:
            records.append(
                {
                    "id": record_id,
                    "tenant_id": device.tenant_id,
                    "visit_id": m.visit_id,
                    "carer_id": m.carer_id,
                    "device_id": device.device_id,
                    "mutation_id": m.mutation_id,
                    "kind": kind,
                    "task_id": m.task_id if isinstance(m, TaskOutcome) else None,
                    "captured_at": to_ms(m.captured_at),
                    "received_at": now_ms,
                    "payload": payload,
                    "conflict": verdict.reason,
                }
            )
        entry = {
            "device_id": device.device_id,
            "mutation_id": m.mutation_id,
            "kind": kind,
            "carer_id": m.carer_id[:_ID_COLUMN_CHARS],  # cut only when rejected; the payload keeps it whole
            "visit_id": m.visit_id[:_ID_COLUMN_CHARS],
            "received_at": now_ms,
            "status": verdict.status,
            "reason": verdict.reason,
            "record_id": record_id,
            "payload": payload,
        }
        ledger.append(entry)
        known.ledger[m.mutation_id] = entry  # a repeat within the same request is a duplicate
        results.append(
            MutationResult(mutation_id=m.mutation_id, status=verdict.status, reason=verdict.reason, record_id=record_id)
        )
    if quota is not None:
        await quota.charge(conn, device.device_id, charged, now_ms, request_id)
    if records:
        await conn.execute(insert(care_records), records)
    if ledger:
        await conn.execute(insert(device_mutations), ledger)
    return results


async def _load(conn: AsyncConnection, device: DeviceIdentity, mutations: list[Mutation]) -> _Known:
    ids = sorted({m.mutation_id for m in mutations})
    visit_ids = sorted({m.visit_id for m in mutations})
    pairs = sorted({(m.visit_id, m.carer_id) for m in mutations})
    task_keys = sorted({(m.visit_id, m.task_id) for m in mutations if isinstance(m, TaskOutcome)})
    ledger = {
        r.mutation_id: {"status": r.status, "reason": r.reason, "record_id": r.record_id}
        for r in await conn.execute(
            select(device_mutations.c.mutation_id, device_mutations.c.status)
            .add_columns(device_mutations.c.reason, device_mutations.c.record_id)
            .where(device_mutations.c.device_id == device.device_id, device_mutations.c.mutation_id.in_(ids))
        )
    }
    statuses = {
        r.id: r.status
        for r in await conn.execute(
            select(visits.c.id, visits.c.status).where(
                visits.c.id.in_(visit_ids), visits.c.tenant_id == device.tenant_id
            )
        )
    }
    assigned = {
        (r.visit_id, r.carer_id): r.unassigned_at
        for r in await conn.execute(
            select(visit_assignments).where(
                tuple_(visit_assignments.c.visit_id, visit_assignments.c.carer_id).in_(pairs)
            )
        )
    }
    removed: dict[tuple[str, str], bool] = {}
    if task_keys:
        for r in await conn.execute(
            select(tasks.c.visit_id, tasks.c.id, tasks.c.removed).where(
                tuple_(tasks.c.visit_id, tasks.c.id).in_(task_keys)
            )
        ):
            removed[(r.visit_id, r.id)] = bool(r.removed)
    return _Known(ledger, statuses, assigned, removed)


def _judge(device: DeviceIdentity, m: Mutation, known: _Known) -> _Verdict:
    if m.carer_id not in device.carers:
        return _Verdict("rejected", RejectReason.CARER_NOT_ON_DEVICE)
    status = known.visit_status.get(m.visit_id)
    if status is None:
        return _Verdict("rejected", RejectReason.VISIT_NOT_FOUND)
    key = (m.visit_id, m.carer_id)
    if key not in known.unassigned_at:
        return _Verdict("rejected", RejectReason.VISIT_NOT_ASSIGNED)
    if isinstance(m, TaskOutcome):
        task_removed = known.task_removed.get((m.visit_id, m.task_id))
        if task_removed is None:
            return _Verdict("rejected", RejectReason.TASK_NOT_FOUND)
        if task_removed:
            return _Verdict("applied_with_conflict", ConflictReason.TASK_REMOVED)
    if known.unassigned_at[key] is not None:
        return _Verdict("applied_with_conflict", ConflictReason.VISIT_REASSIGNED)
    if status == "cancelled":
        return _Verdict("applied_with_conflict", ConflictReason.VISIT_CANCELLED)
    return _Verdict("applied")
