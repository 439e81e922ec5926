"""The wire limits, defined once: the frames, the REST API and the console all enforce these.

Office input that a device could not decode is refused where it enters (422 on the REST
API, a message on the console), so that no carer's feed ever holds a change a conforming
device cannot decode (docs/protocol.md, section 1).
"""

from __future__ import annotations

MAX_FRAME_BYTES = 256 * 1024
"""Largest text frame either side may send (UTF-8 bytes). Larger frames close 4103."""

MAX_CHANGE_FRAME_BYTES = 160 * 1024
"""Largest encoded ``change`` frame the server stores in a feed. Below the frame limit so
that a ``sync_response`` carrying it, heads and up to 200 mutation results still fits."""

MAX_WIRE_INT = 2**63 - 1
"""Largest integer any frame may carry (a signed 64-bit value: Kotlin ``Long``, Swift ``Int``)."""

MAX_ID_CHARS = 64
"""Ids are 1 to 64 characters."""

MAX_SHORT_TEXT_CHARS = 200
"""Names, addresses, task titles, form names, reasons."""

MAX_LONG_TEXT_CHARS = 10_000
"""Visit notes (office) and visit notes recorded by the carer."""

MAX_APP_VERSION_CHARS = 64
"""The app version a device sends in ``hello``."""

MAX_TASKS_PER_VISIT = 200
"""Most tasks (removed ones included) one visit may hold."""

MAX_SEEN_PER_FRAME = 200
"""Most changes one ``seen`` frame may acknowledge for the carer."""

MAX_SEEN_WINDOW_H = 168
"""Largest ``seen_window_h`` a tenant may set (a week)."""

DEFAULT_SEEN_WINDOW_H = 24
"""The tenant's ``seen_window_h`` unless it sets another (docs/protocol.md 4b)."""
