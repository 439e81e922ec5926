"""A device socket's frame budget: frames beyond it are refused, and a socket that keeps
sending beyond it after being told is closed."""

from __future__ import annotations

from server.services.token_bucket import Rate
from server.ws.frame_budget import REFUSED_BEFORE_CLOSE, REFUSED_WINDOW_S, FrameBudget, Verdict


def test_frames_beyond_the_burst_are_refused_until_it_refills() -> None:
    budget = FrameBudget(Rate(rate_per_s=10.0, burst=3), now_ms=0)
    assert [budget.judge(20, 0) for _ in range(4)] == [Verdict.ADMIT] * 3 + [Verdict.REFUSE]
    assert budget.judge(20, 100) == Verdict.ADMIT


def test_a_large_frame_costs_more() -> None:
    budget = FrameBudget(Rate(rate_per_s=1.0, burst=64), now_ms=0)
    assert budget.judge(256 * 1024, 0) == Verdict.ADMIT
    assert budget.judge(20, 0) == Verdict.REFUSE


def test_refusals_going_on_within_the_window_close_the_socket() -> None:
    budget = FrameBudget(Rate(rate_per_s=1.0, burst=1), now_ms=0)
    assert budget.judge(20, 0) == Verdict.ADMIT
    verdicts = [budget.judge(20, 1) for _ in range(REFUSED_BEFORE_CLOSE)]
    assert verdicts == [Verdict.REFUSE] * (REFUSED_BEFORE_CLOSE - 1) + [Verdict.CLOSE]


def test_refusals_spread_beyond_the_window_do_not_close() -> None:
    budget = FrameBudget(Rate(rate_per_s=0.001, burst=1), now_ms=0)
    budget.judge(20, 0)
    step_ms = int(REFUSED_WINDOW_S * 1000 / (REFUSED_BEFORE_CLOSE - 1)) + 1
    verdicts = {budget.judge(20, i * step_ms) for i in range(1, 3 * REFUSED_BEFORE_CLOSE)}
    assert verdicts == {Verdict.REFUSE}
