"""bench/broadcast_peers.py: the names ``bench.fanout --peers`` takes."""

from __future__ import annotations

import argparse

import pytest

from bench.broadcast_peers import PEERS, BroadcastPeer, peer_names


def test_names_are_read_in_order_once_each() -> None:
    assert peer_names("wsproto, websockets,wsproto") == ["wsproto", "websockets"]


@pytest.mark.parametrize("text", ["websockets,uvloop", "", " , "])
def test_an_unknown_or_missing_name_is_refused_naming_the_known_ones(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="known: websockets, sansio, wsproto, picows"):
        peer_names(text)


def test_a_peer_needing_an_absent_package_says_which() -> None:
    absent = BroadcastPeer("peer absent", ("bench.peers.ws_broadcast",), ("no_such_package_here", "websockets"))
    assert absent.missing() == ["no_such_package_here"]
    assert PEERS["websockets"].missing() == []


def test_a_peer_is_started_with_its_port_before_its_own_arguments() -> None:
    assert PEERS["picows"].module_args(8123) == ["-m", "bench.peers.picows_broadcast", "8123", "asyncio"]
