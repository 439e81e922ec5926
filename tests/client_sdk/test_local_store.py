from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from client_sdk.local_store import LocalStore
from protocol.frames import Change as ChangeFrame
from protocol.frames import (
    CheckIn,
    ClientView,
    FeedPosition,
    MutationResult,
    VisitNote,
    VisitRemoved,
    VisitUpsert,
    VisitView,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _visit(visit_id: str, hour: int) -> VisitView:
    moment = NOW.replace(hour=hour)
    return VisitView(
        id=visit_id,
        branch_id="b",
        client=ClientView(id="c", name="Mrs Patel"),
        starts_at=moment,
        ends_at=moment,
        status="scheduled",
        carer_ids=["k"],
        tasks=[],
        version=1,
    )


def _upsert(seq: int, visit: VisitView, epoch: int = 1) -> ChangeFrame:
    return ChangeFrame(feed="k", epoch=epoch, seq=seq, committed_at=NOW, payload=VisitUpsert(visit=visit))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    opened = LocalStore(tmp_path / "nested" / "phone.db")
    opened.ensure_feed("k", 1, "Amara")
    return opened


def test_change_and_position_move_together(store: LocalStore) -> None:
    store.apply(_upsert(1, _visit("v1", 10)))
    store.apply(_upsert(2, _visit("v2", 9)))
    assert store.position("k") == FeedPosition(feed="k", epoch=1, seq=2)
    assert [v.id for v in store.visits("k")] == ["v2", "v1"], "ordered by start time"
    store.apply(
        ChangeFrame(
            feed="k", epoch=1, seq=3, committed_at=NOW, payload=VisitRemoved(visit_id="v1", reason="reassigned")
        )
    )
    assert [v.id for v in store.visits()] == ["v2"]


def test_a_change_that_does_not_follow_is_refused_and_changes_nothing(store: LocalStore) -> None:
    store.apply(_upsert(1, _visit("v1", 10)))
    with pytest.raises(ValueError, match="does not follow"):
        store.apply(_upsert(3, _visit("v3", 11)))
    with pytest.raises(ValueError, match="does not follow"):
        store.apply(_upsert(2, _visit("v3", 11), epoch=2))
    assert store.position("k") == FeedPosition(feed="k", epoch=1, seq=1)
    assert [v.id for v in store.visits()] == ["v1"]


def test_reset_drops_the_feed_but_not_the_outbox(store: LocalStore) -> None:
    store.apply(_upsert(1, _visit("v1", 10)))
    store.enqueue(CheckIn(mutation_id=store.next_mutation_id(), carer_id="k", visit_id="v1", captured_at=NOW))
    store.reset_feed("k", 2)
    assert store.position("k") == FeedPosition(feed="k", epoch=2, seq=0)
    assert store.visits() == []
    assert store.pending_count() == 1


def test_mutation_ids_increase_and_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "phone.db"
    first = LocalStore(path)
    ids = [first.next_mutation_id() for _ in range(3)]
    first.enqueue(CheckIn(mutation_id=ids[-1], carer_id="k", visit_id="v", captured_at=NOW))
    first.record_results([MutationResult(mutation_id=ids[-1], status="applied", record_id="r")])
    assert first.pending_count() == 0
    first.close()
    reopened = LocalStore(path)
    assert reopened.next_mutation_id() == ids[-1] + 1
    assert reopened.result(ids[-1]) == MutationResult(mutation_id=ids[-1], status="applied", record_id="r")


def test_pending_takes_no_more_recordings_than_fit_in_the_bytes_asked(store: LocalStore) -> None:
    for i in range(5):
        store.enqueue(VisitNote(mutation_id=i + 1, carer_id="k", visit_id="v", captured_at=NOW, text="x" * 1000))
    assert [m.mutation_id for m in store.pending(10)] == [1, 2, 3, 4, 5]
    assert [m.mutation_id for m in store.pending(10, max_bytes=2500)] == [1, 2]
    assert [m.mutation_id for m in store.pending(3, max_bytes=10_000)] == [1, 2, 3]
    assert [m.mutation_id for m in store.pending(10, max_bytes=10)] == [1], "the first one always goes"


def test_forgetting_feeds_no_longer_on_the_device(store: LocalStore) -> None:
    store.ensure_feed("other", 1, "Ben")
    store.apply(_upsert(1, _visit("v1", 10)))
    store.forget_feeds_except({"other"})
    assert [p.feed for p in store.positions()] == ["other"]
    assert store.visits() == []
