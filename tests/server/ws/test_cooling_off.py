from __future__ import annotations

from server.ws.cooling_off import CoolingOff


def test_a_token_waits_until_its_time_then_is_forgotten() -> None:
    cooling = CoolingOff()
    cooling.start("t", until_ms=10_000)
    assert cooling.remaining_s("t", now_ms=0) == 10
    assert cooling.remaining_s("t", now_ms=9_001) == 1
    assert cooling.remaining_s("t", now_ms=10_000) == 0
    assert len(cooling) == 0
    assert cooling.remaining_s("other", now_ms=0) == 0


def test_a_new_close_moves_the_wait() -> None:
    cooling = CoolingOff()
    cooling.start("t", until_ms=1_000)
    cooling.start("t", until_ms=5_000)
    assert cooling.remaining_s("t", now_ms=2_000) == 3


def test_it_holds_at_most_its_bound_forgetting_the_oldest() -> None:
    cooling = CoolingOff(max_tokens=3)
    for n in range(5):
        cooling.start(f"t{n}", until_ms=10_000)
    assert len(cooling) == 3
    assert cooling.remaining_s("t0", now_ms=0) == 0
    assert cooling.remaining_s("t4", now_ms=0) == 10
