"""Reading the local copy: today's visits by the device's clock, and the feed positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from client_sdk.local_copy import LocalCopy
from client_sdk.local_store import LocalStore
from protocol.frames import Change, VisitUpsert
from tests.client_sdk.visits import visit_view

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


class Phone(LocalCopy):
    def __init__(self, path: Path) -> None:
        self.store = LocalStore(path)


def _upsert(seq: int, visit_id: str, starts_at: datetime) -> Change:
    visit = visit_view(visit_id, starts_at, minutes=30, client="Mr Osei")
    return Change(feed="k", epoch=1, seq=seq, committed_at=NOW, payload=VisitUpsert(visit=visit))


def test_today_is_midnight_to_midnight_of_the_given_moment(tmp_path: Path) -> None:
    phone = Phone(tmp_path / "phone.db")
    phone.store.ensure_feed("k", 1, "Amara")
    midnight = NOW.replace(hour=0)
    for seq, (visit_id, starts_at) in enumerate(
        [
            ("yesterday-late", midnight - timedelta(minutes=1)),
            ("first", midnight),
            ("evening", midnight + timedelta(hours=23, minutes=59)),
            ("tomorrow", midnight + timedelta(days=1)),
        ],
        start=1,
    ):
        phone.store.apply(_upsert(seq, visit_id, starts_at))
    assert [v.id for v in phone.visits_today("k", now=NOW)] == ["first", "evening"]
    assert [v.id for v in phone.visits("k")] == ["yesterday-late", "first", "evening", "tomorrow"]
    assert phone.visits("someone-else") == []


def test_positions_are_the_stored_ones_by_feed(tmp_path: Path) -> None:
    phone = Phone(tmp_path / "phone.db")
    phone.store.ensure_feed("k", 1, "Amara")
    phone.store.apply(_upsert(1, "v1", NOW))
    phone.store.apply(_upsert(2, "v1", NOW))
    position = phone.positions()["k"]
    assert (position.epoch, position.seq) == (1, 2)
