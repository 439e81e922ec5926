"""From when a "delivered but not seen" pass reads: since its previous pass, or everything.

A change becomes due at the later of two moments, both known in advance: its grace
passing (``committed_at + seen_grace_s``) and its visit coming within the lead
(``starts_at - seen_lead_s``); the other conditions are fixed by the change and the
visit, or move one way only (seen, alerted, the visit ending). So a pass need only read
the visits for which one of these moments fell since its previous pass, and those that
two later events can make due after their moment: a phone's ack (the change is now delivered) and an alert
closed (it no longer holds back a later change of the same carer and visit). Each pass
reads :data:`~server.tunables.SEEN_DETECTION_LOOKBACK_MS` further back than its previous
one, for transactions that committed late or carry another node's time.

A pass reads everything (``since`` None) when there is no previous pass to go from (the
node just started, or its clock went back), when a tenant's policy differs from the one
the previous pass read (a longer lead or window, or a shorter grace, moves moments into
the past), and once every :data:`~server.tunables.SEEN_FULL_PASS_INTERVAL_S`, for what no
timestamp records (a device reactivated). A node that loses the passes' lease and later
takes it again goes from its own previous pass: a longer stretch, never a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Policy = tuple[int, int, int]
"""A tenant's ``(seen_window_h, seen_lead_s, seen_grace_s)``."""


@dataclass
class Watermark:
    lookback_ms: int
    full_every_ms: int
    _through: int | None = None
    """The time of the previous pass that completed."""
    _full_at: int | None = None
    """The time of the last full pass that completed."""
    _policies: dict[str, Policy] = field(default_factory=dict)
    """Each tenant's policy as the previous pass read it."""

    def since(self, now_ms: int, policies: dict[str, Policy]) -> int | None:
        """The time from which a pass at ``now_ms`` reads what happened; None: everything."""
        if self._through is None or self._full_at is None or now_ms < self._through:
            return None
        if policies != self._policies or now_ms - self._full_at >= self.full_every_ms:
            return None
        return self._through - self.lookback_ms

    def passed(self, now_ms: int, policies: dict[str, Policy], *, full: bool) -> None:
        """A pass at ``now_ms``, with these policies, completed; ``full``: it read every visit
        around now (as told, or because more than a few were touched)."""
        self._through = now_ms
        self._policies = dict(policies)
        if full:
            self._full_at = now_ms
