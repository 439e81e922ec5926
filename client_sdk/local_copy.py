"""Reading the phone's local copy of the rota: what the app shows, whether or not it is online."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from client_sdk.local_store import LocalStore
from protocol.frames import FeedPosition, VisitView


class LocalCopy:
    """The reading half of :class:`client_sdk.device.Device`."""

    store: LocalStore

    def visits(self, carer_id: str | None = None) -> list[VisitView]:
        return self.store.visits(carer_id)

    def visits_today(self, carer_id: str | None = None, now: datetime | None = None) -> list[VisitView]:
        moment = now or datetime.now(UTC)
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.store.visits(carer_id, start, start + timedelta(days=1))

    def positions(self) -> dict[str, FeedPosition]:
        return {p.feed: p for p in self.store.positions()}
