"""Tenant preferences on the hello path: greetings asking at once share one store read, a
change made here is never answered from a read begun before it, and a failed read is
every waiting greeting's error and the next one's retry."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from server.node import Node
from server.services.errors import NotFound
from server.store.schema import tenants


async def _tenant(node: Node) -> str:
    return (await node.directory.create_tenant("Harbour Care")).tenant_id


async def test_greetings_asking_at_once_share_one_read(clocked_node: Node) -> None:
    node = clocked_node
    tenant_id = await _tenant(node)
    cache = node.preferences
    before = cache.reads
    answers = await asyncio.gather(*(cache.read(node.db, tenant_id) for _ in range(50)))
    assert cache.reads - before == 1
    assert len({a.auto_sync_interval_s for a in answers}) == 1
    await cache.read(node.db, tenant_id)
    assert cache.reads - before == 1, "held while fresh"
    node.clock.advance(cache.ttl_ms + 1)  # type: ignore[attr-defined]
    await cache.read(node.db, tenant_id)
    assert cache.reads - before == 2, "read again once stale"


async def test_a_change_here_is_not_answered_from_a_read_begun_before_it(clocked_node: Node) -> None:
    node = clocked_node
    tenant_id = await _tenant(node)
    cache = node.preferences
    early = asyncio.ensure_future(cache.read(node.db, tenant_id))
    await asyncio.sleep(0)  # the read has started
    async with node.db.write() as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(auto_sync_interval_s=1234))
    cache.forget(tenant_id)
    late = await cache.read(node.db, tenant_id)
    assert late.auto_sync_interval_s == 1234
    await early
    assert cache.cached(tenant_id) is not None
    assert (await cache.read(node.db, tenant_id)).auto_sync_interval_s == 1234


async def test_a_failed_read_fails_every_waiting_greeting_and_the_next_one_reads_again(clocked_node: Node) -> None:
    node = clocked_node
    cache = node.preferences
    before = cache.reads
    outcomes = await asyncio.gather(*(cache.read(node.db, "no-such-tenant") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, NotFound) for o in outcomes)
    assert cache.reads - before == 1
    with pytest.raises(NotFound):
        await cache.read(node.db, "no-such-tenant")
    assert cache.reads - before == 2


async def test_a_greeting_given_up_on_does_not_cancel_the_others_read(clocked_node: Node) -> None:
    node = clocked_node
    tenant_id = await _tenant(node)
    cache = node.preferences
    abandoned = asyncio.ensure_future(cache.read(node.db, tenant_id))
    waiting = asyncio.ensure_future(cache.read(node.db, tenant_id))
    await asyncio.sleep(0)
    abandoned.cancel()
    preferences = await waiting
    assert preferences.timezone
    assert abandoned.cancelled()
