"""The effect relay applies each device effect once per node, and never to a socket
opened after the effect (a device that reconnected as told is left alone)."""

from __future__ import annotations

from pathlib import Path

from protocol.errors import CloseCode
from server.seeding import seed_agency
from server.services.device_effects import Effect, EffectKind
from tests.conftest import RunningServer
from tests.support import eventually, make_device


async def test_an_effect_applies_once_and_not_to_a_socket_opened_after_it(
    running: RunningServer, tmp_path: Path
) -> None:
    node = running.node
    agency = await seed_agency(node, carers=1, visits_per_carer=1)
    carer = agency.carers[0]
    device = await make_device(running, carer, tmp_path)
    try:
        socket = node.hub.device_socket(carer.device_id)
        assert socket is not None
        effect = Effect("e1", carer.device_id, EffectKind.RECONNECT, socket.opened_at_ms)
        assert node.effects.apply(effect)
        assert not node.effects.apply(effect), "the bus and the poll deliver it twice; it acts once"
        await eventually(lambda: device.link.drops >= 1)
        await eventually(lambda: node.hub.device_socket(carer.device_id) not in (None, socket))
        reconnected = node.hub.device_socket(carer.device_id)
        assert reconnected is not None

        late_copy = Effect("e2", carer.device_id, EffectKind.REVOKE, reconnected.opened_at_ms - 1)
        assert not node.effects.apply(late_copy), "made before this socket opened: not for it"
        assert not node.effects.apply(Effect("e3", "another-device", EffectKind.REVOKE, reconnected.opened_at_ms))
        assert node.effects.apply(Effect("e4", carer.device_id, EffectKind.REVOKE, reconnected.opened_at_ms))
        await eventually(lambda: device.stopped_by is not None)
        assert device.stopped_by is not None and device.stopped_by.code == CloseCode.DEVICE_REVOKED
    finally:
        await device.stop()
