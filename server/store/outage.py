"""Telling a store outage from a bug, and logging an outage once rather than per request.

A store outage (the database restarting, unreachable, out of disk, its connections
broken) is answered, not crashed on: REST answers a JSON 503 with ``Retry-After``, a
device socket gets an ``internal_error`` frame and stays open, background loops back
off. :class:`Database` turns every such failure into :class:`StoreUnavailable` and logs
one warning when an outage starts and one line when it ends.
"""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import exc as sa

log = logging.getLogger("server.store")

RETRY_AFTER_S = 2
"""What a refused request is told to wait (seconds): about one database restart."""

_SQLSTATE_CLASSES = ("08", "53", "57P", "58")
"""connection exception, insufficient resources (disk full, too many connections),
operator intervention (shutdown, cannot connect now), system error (I/O)."""

_BROKEN_CONNECTION_WORDS = (
    "cannot switch to state",
    "connection is closed",
    "connection was closed",
    "another operation is in progress",
)
"""asyncpg messages of a connection left in a bad state: it must be discarded, not reused."""


class StoreUnavailable(Exception):
    """The store cannot answer now; retry after :data:`RETRY_AFTER_S` seconds."""

    retry_after_s = RETRY_AFTER_S

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"the database is unavailable ({type(cause).__name__}); retry in {RETRY_AFTER_S} s")
        self.cause = cause


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the store is out of reach (not a bug, not bad input)."""
    if isinstance(error, StoreUnavailable | ConnectionError | TimeoutError | sa.TimeoutError):
        return True
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated or isinstance(error, sa.OperationalError | sa.InterfaceError):
            return True
        return is_unavailable(error.orig) if error.orig is not None else False
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "disk" in text or "unable to open" in text or "disk i/o" in text
    if isinstance(error, OSError):
        return True
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state.startswith(_SQLSTATE_CLASSES):
        return True
    text = str(error).lower()
    return any(words in text for words in _BROKEN_CONNECTION_WORDS)


class OutageLog:
    """One warning when failures start, one info line when the store answers again."""

    def __init__(self) -> None:
        self.failures = 0
        self.outages = 0
        self._writes_failed = False
        """A full disk fails writes while reads succeed: such an outage ends on a write."""

    @property
    def in_outage(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException, *, writing: bool = False) -> None:
        self._writes_failed = self._writes_failed or writing
        if self.failures == 0:
            self.outages += 1
            log.warning(
                "database unavailable (%s: %s); answering 503 / internal_error until it is back",
                type(error).__name__,
                str(error).splitlines()[0][:200] if str(error) else "",
            )
        self.failures += 1

    def succeeded(self, *, writing: bool = False) -> None:
        if self.failures and (writing or not self._writes_failed):
            self._writes_failed = False
            log.warning("database available again after %d failed operations", self.failures)
            self.failures = 0
