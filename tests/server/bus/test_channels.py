"""Channel names are built and parsed in one module only."""

from __future__ import annotations

import re
from pathlib import Path

from server.bus import channels
from server.bus.channels import ChannelKind

ROOT = Path(__file__).parents[3]


def test_every_builder_round_trips_through_parse() -> None:
    builders = {
        ChannelKind.FEED: channels.feed_channel,
        ChannelKind.CONSOLE: channels.console_channel,
        ChannelKind.TENANT: channels.tenant_channel,
        ChannelKind.STAFF: channels.staff_control_channel,
    }
    assert set(builders) | {ChannelKind.DEVICE_EFFECTS} == set(ChannelKind)
    for kind, build in builders.items():
        assert channels.parse(build("a:b")) == (kind, "a:b")
    assert channels.parse(channels.device_effects_channel()) == (ChannelKind.DEVICE_EFFECTS, "all")


def test_a_foreign_name_parses_without_a_kind() -> None:
    assert channels.parse("nonsense:x") == (None, "x")


def test_no_module_outside_the_channels_module_spells_or_splits_a_channel_name() -> None:
    spelled = re.compile(r"""f["'](feed|console|tenant|device|staff):\{|\.partition\(":"\)""")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "server").rglob("*.py")
        if path.name != "channels.py" and spelled.search(path.read_text())
    ]
    assert offenders == []
