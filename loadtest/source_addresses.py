"""Which local addresses the fleet's devices connect from.

Every TCP connection from one client address to one server address and port needs its own
local port, and Linux hands out ports only from ``net.ipv4.ip_local_port_range`` (32768 to
60999 by default: 28,232 ports). One source address therefore carries fewer than 28,232
devices; more need several. Linux routes the whole of 127.0.0.0/8 to the loopback
interface, so 127.0.0.2, 127.0.0.3, ... work as source addresses with no setup at all.

``--source-addresses`` takes a count (loopback addresses from 127.0.0.1 up) or a
comma-separated list of addresses; without it, the fleet picks as many loopback addresses
as its devices need when the server is on loopback, and leaves the choice to the system
otherwise. Device ``i`` connects from address ``i mod N``.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

PORT_RANGE_PATH = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_PORT_RANGE = (32768, 60999)
PORT_SHARE = 0.75
"""The share of the ephemeral ports one source address may carry in devices: the rest is
left for devices reconnecting while their old connection still holds its port."""
MAX_LOOPBACK_ADDRESSES = 254
"""127.0.0.1 to 127.0.0.254."""


class BadSourceAddresses(ValueError):
    """``--source-addresses`` cannot be used as given; the message says why."""


def ephemeral_port_range(path: Path = PORT_RANGE_PATH) -> tuple[int, int]:
    """``net.ipv4.ip_local_port_range``, or Linux's default when it cannot be read."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_PORT_RANGE
    return low, high


def devices_per_address(port_range: tuple[int, int]) -> int:
    """How many devices one source address carries at most."""
    low, high = port_range
    return max(1, int((high - low + 1) * PORT_SHARE))


def loopback_addresses(count: int) -> list[str]:
    """127.0.0.1, 127.0.0.2, ... ``count`` of them."""
    if not 1 <= count <= MAX_LOOPBACK_ADDRESSES:
        raise BadSourceAddresses(f"source addresses: between 1 and {MAX_LOOPBACK_ADDRESSES} loopback addresses")
    return [f"127.0.0.{n}" for n in range(1, count + 1)]


def parse_source_addresses(text: str) -> int | list[str]:
    """``"3"`` (a count of loopback addresses) or ``"127.0.0.2,127.0.0.3"`` (the addresses)."""
    text = text.strip()
    if text.isdigit():
        count = int(text)
        loopback_addresses(count)  # in range
        return count
    addresses = [part.strip() for part in text.split(",") if part.strip()]
    if not addresses:
        raise BadSourceAddresses("source addresses: a count, or a comma-separated list of IPv4 addresses")
    for address in addresses:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            raise BadSourceAddresses(f"source addresses: {address!r} is not an IPv4 address") from None
    if len(set(addresses)) != len(addresses):
        raise BadSourceAddresses("source addresses: an address is listed twice")
    return addresses


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def choose_source_addresses(
    option: int | list[str] | None, devices: int, server_host: str, port_range: tuple[int, int]
) -> list[str]:
    """The addresses the devices connect from; an empty list lets the system choose (one
    address, no binding). Raises :class:`BadSourceAddresses` when the devices would not fit."""
    per_address = devices_per_address(port_range)
    loopback = is_loopback_host(server_host)
    if option is None:
        needed = math.ceil(devices / per_address)
        if needed <= 1 or not loopback:
            return []
        return loopback_addresses(needed)
    if isinstance(option, int):
        if not loopback:
            raise BadSourceAddresses(
                f"--source-addresses {option} means loopback addresses, which cannot reach {server_host}; "
                "list this machine's addresses instead (--source-addresses 10.0.0.5,10.0.0.6)"
            )
        addresses = loopback_addresses(option)
    else:
        addresses = option
    if math.ceil(devices / len(addresses)) > per_address:
        low, high = port_range
        fits = math.ceil(devices / per_address)
        raise BadSourceAddresses(
            f"{devices} devices over {len(addresses)} source address(es) is {math.ceil(devices / len(addresses))} "
            f"connections from each, more than the {per_address} one address carries (ephemeral ports "
            f"{low}-{high}, net.ipv4.ip_local_port_range, with room for reconnects): "
            f"use at least {fits} (--source-addresses {fits})"
        )
    return addresses


def assign(addresses: list[str], index: int) -> str | None:
    """The source address of device ``index`` (None: the system chooses)."""
    return addresses[index % len(addresses)] if addresses else None
