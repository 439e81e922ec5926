"""A case's failure: what a conforming client does that this one did not."""

from __future__ import annotations


class CaseFailed(Exception):
    """The client did not do what the section says: what was expected, what happened."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected {expected}; actual {actual}")
        self.expected = expected
        self.actual = actual


def check(condition: bool, expected: str, actual: str) -> None:
    """Fail the case unless ``condition``."""
    if not condition:
        raise CaseFailed(expected, actual)
