"""What the carer records on the phone: check-in and check-out, task outcomes, notes and
forms. Each goes to the local outbox durably (one transaction) and is uploaded by the next
standard sync; opening a form or checking in marks work in progress, which a clean sync
asks about first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from client_sdk.local_store import LocalStore
from protocol.frames import CheckIn, CheckOut, FormSubmission, Location, Mutation, TaskOutcome, VisitNote


class Recordings:
    """The recording half of :class:`client_sdk.device.Device`."""

    store: LocalStore

    def check_in(
        self, carer_id: str, visit_id: str, at: datetime | None = None, location: Location | None = None
    ) -> int:
        moment = at or datetime.now(UTC)
        self.store.begin_work(visit_id, "check-in", "", moment)
        return self._record(CheckIn, carer_id, visit_id, moment, location=location)

    def check_out(
        self, carer_id: str, visit_id: str, at: datetime | None = None, location: Location | None = None
    ) -> int:
        mutation_id = self._record(CheckOut, carer_id, visit_id, at, location=location)
        self.store.end_work(visit_id, "check-in")
        return mutation_id

    def record_task(self, carer_id: str, visit_id: str, task_id: str, done: bool, reason: str | None = None) -> int:
        return self._record(TaskOutcome, carer_id, visit_id, None, task_id=task_id, done=done, reason=reason)

    def add_note(self, carer_id: str, visit_id: str, text: str) -> int:
        return self._record(VisitNote, carer_id, visit_id, None, text=text)

    def open_form(self, visit_id: str, form: str) -> None:
        """The carer started filling in ``form``: a clean sync will ask first."""
        self.store.begin_work(visit_id, "form", form, datetime.now(UTC))

    def submit_form(self, carer_id: str, visit_id: str, form: str, data: dict[str, Any]) -> int:
        mutation_id = self._record(FormSubmission, carer_id, visit_id, None, form=form, data=data)
        self.store.end_work(visit_id, "form", form)
        return mutation_id

    def _record(self, kind: type[Mutation], carer_id: str, visit_id: str, at: datetime | None, **fields: Any) -> int:
        """Put a recording in the outbox (durably) and return its mutation id."""
        mutation_id = self.store.next_mutation_id()
        mutation = kind(
            mutation_id=mutation_id,
            carer_id=carer_id,
            visit_id=visit_id,
            captured_at=at or datetime.now(UTC),
            **fields,
        )
        self.store.enqueue(mutation)
        return mutation_id
