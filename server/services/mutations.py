"""Applying uploaded device mutations exactly once, never dropping care records.

Ownership rule: the office owns the schedule, the carer owns what happened. A record
against a visit that was cancelled, reassigned away, or whose task was removed is stored
with a ``conflict`` flag for the office. Only records that can never have been the
carer's (unknown visit, a visit the carer was never assigned, a carer not on the device)
are rejected, and even those are kept, as received, in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.errors import ConflictReason, RejectReason
from protocol.frames import Mutation, MutationResult, MutationStatus, TaskOutcome
from server.clock import to_ms
from server.ids import new_id
from server.services.identity import DeviceIdentity
from server.store.schema import care_records, device_mutations, tasks, visit_assignments, visits


@dataclass(frozen=True)
class _Verdict:
    status: MutationStatus
    reason: str | None = None


async def apply_mutations(
    conn: AsyncConnection, device: DeviceIdentity, mutations: list[Mutation], now_ms: int
) -> list[MutationResult]:
    """Apply each mutation once inside the caller's transaction; answer each one."""
    return [await _apply_one(conn, device, mutation, now_ms) for mutation in mutations]


async def _apply_one(conn: AsyncConnection, device: DeviceIdentity, m: Mutation, now_ms: int) -> MutationResult:
    earlier = (
        await conn.execute(
            select(device_mutations.c.status, device_mutations.c.reason, device_mutations.c.record_id).where(
                device_mutations.c.device_id == device.device_id,
                device_mutations.c.mutation_id == m.mutation_id,
            )
        )
    ).first()
    if earlier is not None:
        return MutationResult(
            mutation_id=m.mutation_id,
            status="duplicate",
            reason=earlier.reason,
            record_id=earlier.record_id,
            original_status=earlier.status,
        )
    verdict = await _judge(conn, device, m)
    record_id = None
    if verdict.status != "rejected":
        record_id = new_id()
        await conn.execute(
            insert(care_records).values(
                id=record_id,
                tenant_id=device.tenant_id,
                visit_id=m.visit_id,
                carer_id=m.carer_id,
                device_id=device.device_id,
                mutation_id=m.mutation_id,
                kind=type(m).__struct_config__.tag,
                task_id=m.task_id if isinstance(m, TaskOutcome) else None,
                captured_at=to_ms(m.captured_at),
                received_at=now_ms,
                payload=msgspec.json.encode(m).decode(),
                conflict=verdict.reason,
            )
        )
    await conn.execute(
        insert(device_mutations).values(
            device_id=device.device_id,
            mutation_id=m.mutation_id,
            kind=type(m).__struct_config__.tag,
            carer_id=m.carer_id,
            visit_id=m.visit_id,
            received_at=now_ms,
            status=verdict.status,
            reason=verdict.reason,
            record_id=record_id,
            payload=msgspec.json.encode(m).decode(),
        )
    )
    return MutationResult(mutation_id=m.mutation_id, status=verdict.status, reason=verdict.reason, record_id=record_id)


async def _judge(conn: AsyncConnection, device: DeviceIdentity, m: Mutation) -> _Verdict:
    if m.carer_id not in device.carers:
        return _Verdict("rejected", RejectReason.CARER_NOT_ON_DEVICE)
    visit = (
        await conn.execute(
            select(visits.c.status).where(visits.c.id == m.visit_id, visits.c.tenant_id == device.tenant_id)
        )
    ).first()
    if visit is None:
        return _Verdict("rejected", RejectReason.VISIT_NOT_FOUND)
    assignment = (
        await conn.execute(
            select(visit_assignments.c.unassigned_at).where(
                visit_assignments.c.visit_id == m.visit_id,
                visit_assignments.c.carer_id == m.carer_id,
            )
        )
    ).first()
    if assignment is None:
        return _Verdict("rejected", RejectReason.VISIT_NOT_ASSIGNED)
    if isinstance(m, TaskOutcome):
        task = (
            await conn.execute(select(tasks.c.removed).where(tasks.c.id == m.task_id, tasks.c.visit_id == m.visit_id))
        ).first()
        if task is None:
            return _Verdict("rejected", RejectReason.TASK_NOT_FOUND)
        if task.removed:
            return _Verdict("applied_with_conflict", ConflictReason.TASK_REMOVED)
    if assignment.unassigned_at is not None:
        return _Verdict("applied_with_conflict", ConflictReason.VISIT_REASSIGNED)
    if visit.status == "cancelled":
        return _Verdict("applied_with_conflict", ConflictReason.VISIT_CANCELLED)
    return _Verdict("applied")
