"""The device's side of the carer's acknowledgement: noted with the change that needs it,
kept until the server answers, dropped with the feed's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from client_sdk.local_store import LocalStore
from protocol.frames import Change, VisitRemoved, VisitUpsert, VisitView
from tests.client_sdk.visits import visit_view

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def _visit(visit_id: str, in_hours: float) -> VisitView:
    return visit_view(visit_id, NOW + timedelta(hours=in_hours))


def _change(seq: int, payload: VisitUpsert | VisitRemoved) -> Change:
    return Change(feed="k", epoch=1, seq=seq, committed_at=NOW, payload=payload)


def _store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "device.db")
    store.ensure_feed("k", 1, "Kate")
    return store


def test_changes_inside_the_window_await_the_carer_and_others_do_not(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.apply(_change(1, VisitUpsert(visit=_visit("soon", 1))), seen_window_h=24)
    store.apply(_change(2, VisitUpsert(visit=_visit("next-week", 24 * 7))), seen_window_h=24)
    store.apply(_change(3, VisitRemoved(visit_id="soon", reason="reassigned")), seen_window_h=24)
    store.apply(_change(4, VisitRemoved(visit_id="next-week", reason="reassigned")), seen_window_h=24)
    awaiting = store.awaiting_seen()
    assert [(a.seq, a.visit_id) for a in awaiting] == [(1, "soon"), (3, "soon")], (
        "a removal is judged by the copy held before it"
    )
    assert store.awaiting_seen("someone-else") == []


def test_seen_is_kept_until_answered_then_forgotten(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.apply(_change(1, VisitUpsert(visit=_visit("soon", 1))), seen_window_h=24)
    store.apply(_change(2, VisitUpsert(visit=_visit("soon", 2))), seen_window_h=24)
    later = NOW + timedelta(minutes=5)
    store.mark_seen([("k", 1, 1), ("k", 1, 2)], later)
    store.mark_seen([("k", 1, 1)], later + timedelta(minutes=1))  # the first time stands
    assert store.awaiting_seen() == []
    store.close()
    store = LocalStore(tmp_path / "device.db")  # durably, across a restart
    assert store.unsent_seen() == {("k", 1): (later, [1, 2])}
    store.seen_answered("k", 1, [1, 2])
    assert store.unsent_seen() == {}


def test_a_reset_drops_what_the_old_copy_awaited(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.apply(_change(1, VisitUpsert(visit=_visit("soon", 1))), seen_window_h=24)
    store.mark_seen([("k", 1, 1)], NOW)
    store.apply(_change(2, VisitUpsert(visit=_visit("soon", 2))), seen_window_h=24)
    store.reset_feed("k", 2)
    assert (store.awaiting_seen(), store.unsent_seen()) == ([], {})


def test_window_zero_awaits_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.apply(_change(1, VisitUpsert(visit=_visit("soon", 1))))
    assert store.awaiting_seen() == []


def test_a_change_the_office_marked_awaits_the_carer_whatever_the_window(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.apply(_change(1, VisitUpsert(visit=_visit("next-week", 24 * 7), needs_seen=True)), seen_window_h=24)
    store.apply(_change(2, VisitUpsert(visit=_visit("soon", 1), needs_seen=True)))  # window off
    store.apply(_change(3, VisitUpsert(visit=_visit("later", 24 * 7))), seen_window_h=24)
    assert [(a.seq, a.visit_id) for a in store.awaiting_seen()] == [(1, "next-week"), (2, "soon")]
