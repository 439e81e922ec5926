"""Frames, console frames and session events are immutable values, as documented."""

from __future__ import annotations

import inspect
from types import ModuleType

import msgspec
import pytest

from protocol import console, device_session, frames, session


@pytest.mark.parametrize("module", [frames, console, session, device_session], ids=lambda m: m.__name__)
def test_every_struct_is_frozen(module: ModuleType) -> None:
    structs = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, msgspec.Struct) and cls.__module__ == module.__name__
    ]
    assert structs
    assert [c.__name__ for c in structs if not c.__struct_config__.frozen] == []


def test_a_frame_cannot_be_changed() -> None:
    ack = frames.Ack(feed="f", epoch=1, seq=2)
    with pytest.raises(AttributeError):
        ack.seq = 3  # type: ignore[misc]
