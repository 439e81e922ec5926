"""Visits as the server sends them, for the device-side tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from protocol.frames import ClientView, VisitView


def visit_view(visit_id: str, starts_at: datetime, minutes: int = 45, client: str = "Mrs Patel") -> VisitView:
    """A scheduled visit of carer ``k`` with no tasks."""
    return VisitView(
        id=visit_id,
        branch_id="b",
        client=ClientView(id="c", name=client),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status="scheduled",
        carer_ids=["k"],
        tasks=[],
        version=1,
    )
