"""A conformance case: a stable id, a level, the section of docs/protocol.md it checks."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.conformance.failures import CaseFailed

if TYPE_CHECKING:
    from server.conformance.context import CaseContext

__all__ = ["REGISTRY", "Case", "CaseBody", "CaseFailed", "Level", "case"]


class Level(enum.StrEnum):
    """RFC 2119 levels: a failing MUST fails the run; SHOULD and MAY are reported."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


CaseBody = Callable[["CaseContext"], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    id: str
    """Stable: ``<area>.<what>``, never reused for another check."""
    level: Level
    section: str
    """The section of docs/protocol.md, e.g. ``§2`` or ``§7.2``."""
    title: str
    """One line: what a conforming client does."""
    body: CaseBody
    timeout_s: float = 45.0


REGISTRY: dict[str, Case] = {}


def case(
    case_id: str, level: Level, section: str, title: str, *, timeout_s: float = 45.0
) -> Callable[[CaseBody], CaseBody]:
    """Register the decorated coroutine as a case."""

    def register(body: CaseBody) -> CaseBody:
        if case_id in REGISTRY:
            raise ValueError(f"case {case_id} is registered twice")
        REGISTRY[case_id] = Case(case_id, level, section, title, body, timeout_s)
        return body

    return register
