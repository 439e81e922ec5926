"""The SDK's exceptions."""

from __future__ import annotations

from protocol.frames import Error


class DeviceStopped(Exception):
    """The server closed with a terminal code (revoked, bad token...): see ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with terminal code {code}: {reason}")
        self.code = code
        self.reason = reason


class RequestFailed(Exception):
    """The server answered a request with an ``error``."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class CleanSyncRefused(Exception):
    """A clean sync was not started because work is in progress; ``force=True`` overrides
    (the work is kept either way)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("clean sync refused: " + "; ".join(reasons))
        self.reasons = reasons
