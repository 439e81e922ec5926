"""Feed appends and heads, on each store: consecutive seqs under one allocation, the frame
built at its position, a missing feed refused, heads read back."""

from __future__ import annotations

import pytest

from server.node import Node
from server.seeding import seed_agency
from server.services import feeds


def _frame(epoch: int, seq: int) -> bytes:
    return f'{{"at":[{epoch},{seq}]}}'.encode()


async def test_entries_get_consecutive_seqs_and_the_head_moves_with_them(node: Node) -> None:
    agency = await seed_agency(node, carers=1, clients=1, visits_per_carer=0)
    scope = agency.branch_id
    async with node.db.write() as conn:
        await feeds.ensure_console_feed(conn, agency.tenant_id, scope)
        one = await feeds.append_entry(conn, feeds.CONSOLE, scope, _frame, {"created_at": 1})
        many = await feeds.append_entries(conn, feeds.CONSOLE, scope, [_frame] * 3, {"created_at": 2})
        none = await feeds.append_entries(conn, feeds.CONSOLE, scope, [], {"created_at": 3})
    assert [a.seq for a in [one, *many]] == [one.seq, one.seq + 1, one.seq + 2, one.seq + 3]
    assert none == []
    assert [a.frame for a in many] == [_frame(one.epoch, one.seq + i) for i in (1, 2, 3)]
    assert all(a.channel == feeds.CONSOLE.channel(scope) for a in many)
    async with node.db.read() as conn:
        head = (await feeds.heads(conn, [scope], feeds.CONSOLE))[scope]
        stored = await feeds.read_frames(conn, scope, head.epoch, one.seq - 1, 10, feeds.CONSOLE)
    assert (head.epoch, head.seq) == (one.epoch, one.seq + 3)
    assert [seq for seq, _frame_bytes in stored] == [one.seq, one.seq + 1, one.seq + 2, one.seq + 3]


async def test_an_append_to_a_feed_that_does_not_exist_is_refused(node: Node) -> None:
    async with node.db.write() as conn:
        with pytest.raises(LookupError, match="no console_feeds row"):
            await feeds.append_entry(conn, feeds.CONSOLE, "no-such-scope", _frame, {"created_at": 1})
