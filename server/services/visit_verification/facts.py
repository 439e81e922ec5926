"""What the store holds about one visit, as the export's rules read it (times in UTC ms)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Place:
    """Where a device said the carer was when recording (``location`` of a check-in/out)."""

    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Capture:
    """One check-in or check-out stored as care."""

    carer_id: str
    captured_at: int
    """The device's clock when the carer recorded it."""
    received_at: int
    """When the server stored it."""
    place: Place | None
    conflict: str | None = None
    """The flag the server set when storing it (``visit_cancelled``, ``visit_reassigned``)."""


@dataclass(frozen=True)
class VisitFacts:
    visit_id: str
    branch_id: str
    branch_name: str
    client_id: str
    client_name: str
    client_address: str
    starts_at: int
    ends_at: int
    status: str
    """The office's status: ``scheduled`` or ``cancelled``."""
    updated_at: int
    """The last office change (creation included)."""
    services: list[str]
    """The titles of the visit's tasks, in order (removed ones left out)."""
    assigned: dict[str, bool]
    """carer id -> still assigned (False: a former assignee), for every carer ever assigned."""
    carer_names: dict[str, str]
    check_ins: list[Capture] = field(default_factory=list)
    check_outs: list[Capture] = field(default_factory=list)
    care_by_carer: dict[str, int] = field(default_factory=dict)
    """carer id -> how many care records of any kind they stored against the visit."""
    conflicts_by_carer: dict[str, set[str]] = field(default_factory=dict)
    """carer id -> the flags the server set on their care records here (``visit_reassigned``...)."""
