"""The shared device-session vectors: each one holds for the Python session, and the JSON
copy the TypeScript SDK runs is exactly what :mod:`protocol.session_vectors` produces."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from protocol.device_session import DeviceFeedSession, peek
from protocol.session_vectors import PEEKS, VECTORS, Classify, PeekVector, Vector, tagged, to_json

COMMITTED = Path(__file__).parents[2] / "sdk" / "typescript" / "test" / "vectors" / "device-session.json"
REGENERATE = "python -m protocol.session_vectors > sdk/typescript/test/vectors/device-session.json"


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_every_vector_holds_for_the_python_session(vector: Vector) -> None:
    held = {p.feed: p for p in vector.held}
    session = DeviceFeedSession(held.get)
    for number, step in enumerate(vector.steps, 1):
        if isinstance(step, Classify):
            assert session.classify(step.change) == step.outcome, f"step {number}"
        else:
            assert session.handle(step.event) == list(step.commands), f"step {number}"


@pytest.mark.parametrize("case", PEEKS, ids=[p.raw for p in PEEKS])
def test_every_peek_vector_holds(case: PeekVector) -> None:
    assert peek(case.raw) == case.seen


def test_vector_names_are_unique() -> None:
    assert len({v.name for v in VECTORS}) == len(VECTORS)


def test_the_json_tags_events_and_commands_by_their_class() -> None:
    first = json.loads(to_json())["vectors"][0]
    assert first["held"] == [{"feed": "f", "epoch": 2, "seq": 5}]
    assert first["steps"][0]["event"] == {"type": "change_arrived", "feed": "f", "epoch": 2, "seq": 6}
    assert [c["type"] for c in first["steps"][0]["commands"]] == ["apply_change", "send_ack"]
    assert tagged(VECTORS[3].steps[0].commands[0]) == {"type": "run_standard_sync"}  # type: ignore[union-attr]


def test_the_committed_json_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == to_json(), f"stale: regenerate with `{REGENERATE}`"


def test_running_the_module_prints_the_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "protocol.session_vectors")  # run afresh, as `python -m` does
    runpy.run_module("protocol.session_vectors", run_name="__main__")
    assert capsys.readouterr().out == to_json()
