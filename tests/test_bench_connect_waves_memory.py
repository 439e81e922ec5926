"""bench.connect_waves_memory runs end to end on a small fleet and reads real figures."""

from __future__ import annotations

from bench.connect_waves_memory import measure


async def test_two_waves_of_a_small_fleet_are_measured() -> None:
    result = await measure(20, settle_s=0.2, left_s=0.2)
    assert set(result) == {"first_wave_kib", "kept_after_leaving_kib", "second_wave_kib"}
    assert result["first_wave_kib"] > 0, "twenty sockets and their greetings cost the server something"
