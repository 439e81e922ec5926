"""Spreading a fleet's devices over several source addresses: the choice (how many the
ephemeral port range needs, what a user asked for) and, against a real server, that the
server sees each device from the address it was given."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from loadtest.lean_device import Behaviour, Counters, LeanDevice
from loadtest.seed import bulk_agency_with_admin
from loadtest.source_addresses import (
    BadSourceAddresses,
    assign,
    choose_source_addresses,
    devices_per_address,
    ephemeral_port_range,
    parse_source_addresses,
)
from server.node import Node
from tests.conftest import start_server, stop_server
from tests.conftest import test_settings as settings_for

LINUX_DEFAULT_RANGE = (32768, 60999)


def test_the_default_is_as_many_loopback_addresses_as_the_port_range_needs() -> None:
    per_address = devices_per_address(LINUX_DEFAULT_RANGE)
    assert per_address == 21_174, "three quarters of the 28,232 ephemeral ports"
    assert choose_source_addresses(None, 10_000, "127.0.0.1", LINUX_DEFAULT_RANGE) == [], "one address: no binding"
    assert choose_source_addresses(None, 50_000, "127.0.0.1", LINUX_DEFAULT_RANGE) == [
        "127.0.0.1",
        "127.0.0.2",
        "127.0.0.3",
    ]
    assert choose_source_addresses(None, 50_000, "localhost", (40000, 40999)) == [f"127.0.0.{n}" for n in range(1, 68)]
    assert choose_source_addresses(None, 50_000, "10.1.2.3", LINUX_DEFAULT_RANGE) == [], "not loopback: the system's"


def test_a_count_or_a_list_is_taken_as_given() -> None:
    assert parse_source_addresses("3") == 3
    assert parse_source_addresses(" 127.0.0.2, 127.0.0.3 ") == ["127.0.0.2", "127.0.0.3"]
    assert choose_source_addresses(2, 100, "127.0.0.1", LINUX_DEFAULT_RANGE) == ["127.0.0.1", "127.0.0.2"]
    assert choose_source_addresses(["10.0.0.5"], 100, "10.0.0.1", LINUX_DEFAULT_RANGE) == ["10.0.0.5"]
    assert [assign(["a", "b", "c"], i) for i in range(5)] == ["a", "b", "c", "a", "b"]
    assert assign([], 7) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0", "between 1 and 254"),
        ("255", "between 1 and 254"),
        ("127.0.0.2,nowhere", "'nowhere' is not an IPv4 address"),
        ("127.0.0.2,127.0.0.2", "listed twice"),
        (",", "a count, or a comma-separated list"),
    ],
)
def test_a_malformed_option_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadSourceAddresses, match=says):
        parse_source_addresses(text)


def test_too_few_addresses_for_the_fleet_are_refused_with_the_count_needed() -> None:
    with pytest.raises(BadSourceAddresses) as refused:
        choose_source_addresses(2, 50_000, "127.0.0.1", LINUX_DEFAULT_RANGE)
    message = str(refused.value)
    assert "25000 connections from each, more than the 21174 one address carries" in message
    assert "ephemeral ports 32768-60999" in message and "--source-addresses 3" in message
    with pytest.raises(BadSourceAddresses, match=r"cannot reach 10\.1\.2\.3"):
        choose_source_addresses(3, 100, "10.1.2.3", LINUX_DEFAULT_RANGE)


def test_the_port_range_is_read_from_the_kernel_setting(tmp_path: Path) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("20000\t29999\n")
    assert ephemeral_port_range(setting) == (20000, 29999)
    assert ephemeral_port_range(tmp_path / "missing") == LINUX_DEFAULT_RANGE
    kernel = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    assert ephemeral_port_range() == (int(kernel[0]), int(kernel[1]))


def server_peer_addresses(port: int) -> set[str]:
    """The remote addresses of established TCP connections to local ``port``, as the kernel
    lists them (the server's side of each device's socket)."""
    peers = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state == "01" and int(local.split(":")[1], 16) == port:
            packed = bytes.fromhex(remote.split(":")[0])[::-1]  # little-endian on x86 and arm
            peers.add(".".join(str(b) for b in packed))
    return peers


async def test_a_small_fleet_over_three_source_addresses_reaches_the_server_from_all_three(tmp_path: Path) -> None:
    server = await start_server(Node.build(settings_for(tmp_path)))
    try:
        agency = await bulk_agency_with_admin(server.node.db, int(time.time() * 1000), 6, 1, 1)
        addresses = choose_source_addresses(3, len(agency.devices), "127.0.0.1", LINUX_DEFAULT_RANGE)
        counters = Counters()
        devices = [
            LeanDevice(
                server.ws_url,
                bench.token,
                bench.uuid,
                bench.carer_id,
                counters,
                Behaviour(),
                source_address=assign(addresses, i),
            )
            for i, bench in enumerate(agency.devices)
        ]
        tasks = [asyncio.create_task(device.run()) for device in devices]
        async with asyncio.timeout(20):
            await asyncio.gather(*(device.welcomed.wait() for device in devices))
        assert server_peer_addresses(server.port) == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
        local = sorted(device.socket.transport.get_extra_info("sockname")[0] for device in devices if device.socket)
        assert local == ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]
        assert counters.connect_failures == {} and counters.closes == {}
        for device in devices:
            device.stop()
        await asyncio.gather(*tasks)
    finally:
        await stop_server(server)
