"""Recordings go to the outbox in order, with the work in progress a clean sync asks about."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from client_sdk.local_store import LocalStore
from client_sdk.recordings import Recordings
from protocol.frames import CheckIn, CheckOut, FormSubmission, Location, TaskOutcome, VisitNote

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Phone(Recordings):
    def __init__(self, path: Path) -> None:
        self.store = LocalStore(path)


def test_each_recording_is_queued_with_its_own_id(tmp_path: Path) -> None:
    phone = Phone(tmp_path / "phone.db")
    ids = [
        phone.check_in("k", "v1", at=AT, location=Location(lat=51.5, lon=-0.1, accuracy_m=8)),
        phone.record_task("k", "v1", "t1", done=False, reason="refused"),
        phone.add_note("k", "v1", "all well"),
        phone.submit_form("k", "v1", "mar", {"dose": "5 mg"}),
        phone.check_out("k", "v1"),
    ]
    assert ids == sorted(set(ids))
    queued = phone.store.pending(limit=10)
    assert [type(m) for m in queued] == [CheckIn, TaskOutcome, VisitNote, FormSubmission, CheckOut]
    assert [m.mutation_id for m in queued] == ids
    first = queued[0]
    assert isinstance(first, CheckIn) and first.captured_at == AT and first.location is not None
    task = queued[1]
    assert isinstance(task, TaskOutcome) and (task.task_id, task.done, task.reason) == ("t1", False, "refused")


def test_check_in_and_an_open_form_are_work_in_progress_until_ended(tmp_path: Path) -> None:
    phone = Phone(tmp_path / "phone.db")
    phone.check_in("k", "v1", at=AT)
    phone.open_form("v1", "mar")
    assert sorted(phone.store.work_in_progress()) == [("v1", "check-in", ""), ("v1", "form", "mar")]
    phone.submit_form("k", "v1", "mar", {})
    assert phone.store.work_in_progress() == [("v1", "check-in", "")]
    phone.check_out("k", "v1")
    assert phone.store.work_in_progress() == []


def test_recordings_survive_the_app_closing(tmp_path: Path) -> None:
    phone = Phone(tmp_path / "phone.db")
    mutation_id = phone.add_note("k", "v1", "key safe code changed")
    phone.store.close()
    reopened = Phone(tmp_path / "phone.db")
    assert [m.mutation_id for m in reopened.store.pending(limit=10)] == [mutation_id]
