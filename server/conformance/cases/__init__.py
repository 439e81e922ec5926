"""Every case of the kit, registered on import (ids are stable: see docs/conformance.md)."""

from server.conformance.case import REGISTRY, Case
from server.conformance.cases import (
    acks,
    close_waits,
    closes,
    enrolment,
    epochs,
    frames,
    gaps,
    liveness,
    outbox,
    push,
    seen,
    session,
    soak,
    syncs,
    uploads,
)

__all__ = [
    "acks",
    "all_cases",
    "close_waits",
    "closes",
    "enrolment",
    "epochs",
    "frames",
    "gaps",
    "liveness",
    "outbox",
    "push",
    "seen",
    "session",
    "soak",
    "syncs",
    "uploads",
]


def all_cases() -> list[Case]:
    """Every registered case, in id order."""
    return [REGISTRY[case_id] for case_id in sorted(REGISTRY)]
