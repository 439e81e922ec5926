"""From when a "not seen" pass reads: everything first, then from its previous pass less
the lookback; everything again after a policy change, a clock going back, or the full-pass
interval."""

from __future__ import annotations

from server.services.seen_alerts.watermark import Watermark

POLICIES = {"t": (24, 7200, 600)}


def _after_a_full_pass(at: int = 1_000_000) -> Watermark:
    mark = Watermark(lookback_ms=60_000, full_every_ms=600_000)
    assert mark.since(at, POLICIES) is None, "no previous pass: everything"
    mark.passed(at, POLICIES, full=True)
    return mark


def test_a_pass_reads_from_its_previous_one_less_the_lookback() -> None:
    mark = _after_a_full_pass()
    assert mark.since(1_030_000, POLICIES) == 940_000
    mark.passed(1_030_000, POLICIES, full=False)
    assert mark.since(1_060_000, POLICIES) == 970_000


def test_a_pass_that_did_not_complete_moves_nothing() -> None:
    mark = _after_a_full_pass()
    assert mark.since(1_030_000, POLICIES) == 940_000  # and the pass failed: no passed()
    assert mark.since(1_060_000, POLICIES) == 940_000, "the next one reads the stretch again"


def test_a_changed_or_new_tenant_policy_reads_everything() -> None:
    mark = _after_a_full_pass()
    assert mark.since(1_030_000, {"t": (24, 9000, 600)}) is None, "a longer lead"
    assert mark.since(1_030_000, {**POLICIES, "u": (24, 7200, 600)}) is None, "a new tenant"
    mark.passed(1_030_000, {"t": (24, 9000, 600)}, full=True)
    assert mark.since(1_060_000, {"t": (24, 9000, 600)}) == 970_000


def test_a_clock_gone_back_reads_everything() -> None:
    mark = _after_a_full_pass()
    assert mark.since(999_999, POLICIES) is None


def test_everything_is_read_again_once_per_interval() -> None:
    mark = _after_a_full_pass()
    for at in range(1_030_000, 1_600_000, 30_000):
        assert mark.since(at, POLICIES) is not None
        mark.passed(at, POLICIES, full=False)
    assert mark.since(1_600_000, POLICIES) is None
    mark.passed(1_600_000, POLICIES, full=True)
    assert mark.since(1_630_000, POLICIES) == 1_540_000


def test_a_pass_that_read_everything_of_itself_counts_as_full() -> None:
    mark = _after_a_full_pass()
    mark.passed(1_500_000, POLICIES, full=True)  # more visits touched than a pass reads one by one
    assert mark.since(1_600_000, POLICIES) == 1_440_000, "the interval counts from then"
