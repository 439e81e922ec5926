"""A device admitted from the node's identity cache is no weaker than one read from the
store (docs/security.md, "Credentials"): once the node has seen a revocation, the old
token is refused; one admitted in between is closed (4101) as soon as the node sees it."""

from __future__ import annotations

from protocol import PROTOCOL_VERSION
from protocol.errors import CloseCode, ErrorCode
from protocol.frames import Error, Hello, ServerFrame, Welcome
from server.ids import hash_token
from server.node import Node
from server.seeding import SeededAgency, SeededCarer, seed_agency
from server.settings import Settings
from tests.conftest import RunningServer
from tests.support import RawDevice, eventually


def _cached(node: Node, carer: SeededCarer) -> bool:
    return node.effects.identities.get(hash_token(carer.device_token), node.clock.now_ms()) is not None


async def _greeted(running: RunningServer, carer: SeededCarer) -> tuple[RawDevice, ServerFrame]:
    """A socket that sent the carer's hello, and the first frame answering it."""
    raw = await RawDevice.connect(running)
    hello = Hello(
        token=carer.device_token,
        device_uuid=carer.device_uuid,
        app_version="raw/1",
        protocol_version=PROTOCOL_VERSION,
        positions=[],
    )
    await raw.send(hello)
    return raw, await raw.receive()


async def _held_in_cache(running: RunningServer, agency: SeededAgency) -> SeededCarer:
    carer = agency.carers[0]
    raw, first = await _greeted(running, carer)
    assert isinstance(first, Welcome)
    await raw.close()
    await eventually(lambda: running.node.hub.session_count == 0)
    await eventually(lambda: _cached(running.node, carer))
    return carer


async def _assert_refused(running: RunningServer, carer: SeededCarer) -> None:
    raw, first = await _greeted(running, carer)
    assert isinstance(first, Error) and first.code == ErrorCode.DEVICE_REVOKED
    assert await raw.close_code() == CloseCode.DEVICE_REVOKED


async def test_a_revoked_token_is_refused_once_the_node_has_seen_the_revocation(running: RunningServer) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = await _held_in_cache(running, agency)
    await node.devices.revoke(agency.tenant_id, carer.device_id)
    await eventually(lambda: not _cached(node, carer))  # the bus, or the next poll of the effects
    await _assert_refused(running, carer)


async def test_a_device_let_in_before_the_node_saw_the_revocation_is_closed_when_it_does(
    running: RunningServer,
) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = await _held_in_cache(running, agency)
    elsewhere = Node.build(Settings(database_url=node.settings.database_url))  # another process: its own bus
    await node.effects.stop()  # hold this node's poll, to stand inside the window
    try:
        await elsewhere.devices.revoke(agency.tenant_id, carer.device_id)
        raw, first = await _greeted(running, carer)
        assert isinstance(first, Welcome), "inside the window (at most one poll) the cache still answers"
        await node.effects.step()  # the poll: the node sees the revocation
        assert not _cached(node, carer)
        assert await raw.close_code() == CloseCode.DEVICE_REVOKED
        await _assert_refused(running, carer)
    finally:
        node.effects.start()
        await elsewhere.db.close()


async def test_re_enrolment_drops_the_older_token_from_the_cache(running: RunningServer) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = await _held_in_cache(running, agency)
    code = await node.devices.issue_enrolment_code(agency.tenant_id, carer.device_id)
    await node.devices.enrol(code.code, carer.device_uuid, "raw/2", "android")
    await eventually(lambda: not _cached(node, carer))
    await _assert_refused(running, carer)
