"""Named constants the server is built around, in one place.

These are not operator settings (those are in :mod:`server.settings`): they are limits
and periods other parts of the design depend on (frame sizes, the protocol, token
lifetimes promised in the docs). Change one here and read what depends on it first.
"""

from __future__ import annotations

# -- sizes of pages and responses (all under protocol.MAX_FRAME_BYTES, 256 KiB)
SYNC_RESPONSE_CHANGE_BYTES = 192 * 1024
"""A sync response stops adding changes at about this many bytes."""
CLEAN_SYNC_PAGE_BYTES = 192 * 1024
"""A clean-sync snapshot page holds about this many bytes of visits."""
STREAMER_FILL_PAGE = 200
"""Feed entries read from the store per page when a socket catches up."""
REPORT_MAX_PAGE_SIZE = 500
"""Largest ``page_size`` of the device report."""
REPORT_QUERY_CHUNK = 500
"""Devices per query when the device report joins its details."""
ALERTS_MAX_LIMIT = 500
"""Largest ``limit`` of the alert listing."""
REDIS_SUBSCRIBE_CHUNK = 1000
"""Channels per Redis SUBSCRIBE/UNSUBSCRIBE command."""
VISIT_LIST_MAX_PAGE_SIZE = 500
"""Largest ``page_size`` of a visit listing."""
VISIT_LIST_MAX_WINDOW_DAYS = 62
"""The longest ``from``..``to`` window a visit list covers (two months)."""
VISIT_VERIFICATION_MAX_DAYS = 92
"""The longest ``from``..``to`` an export covers, both dates included (a quarter)."""
VISIT_VERIFICATION_PAGE = 200
"""Visits read per query while an export streams (plus those starting at the same moment
as the last): what it holds in memory at once is one page of visits with their check-ins,
check-outs, tasks and carers."""
CLOCK_AHEAD_TOLERANCE_MS = 5 * 60 * 1000
"""A check-in or check-out captured later than this after the server received it was
stamped by a device clock that runs ahead (``device_clock_ahead``)."""

# -- lifetimes
ENROLMENT_CODE_TTL_S = 15 * 60
"""Default lifetime of a device enrolment code."""
STAFF_TOKEN_TTL_S = 12 * 3600
"""A working shift: staff sign in again after 12 hours."""
API_TOKEN_MAX_TTL_S = 400 * 24 * 3600
"""The longest expiry an API token may be given (a little over a year)."""
API_TOKEN_LAST_USED_GRANULARITY_MS = 60_000
"""An API token's ``last_used_at`` is written at most this often (a write per request is waste)."""
INITIAL_ADMIN_TOKEN_TTL_S = 30 * 24 * 3600
"""The token ``caresync tenant`` prints expires after 30 days: make named tokens
(``caresync tokens create``) or sign in with a password for anything longer-lived."""
SNAPSHOT_TTL_S = 10 * 60
"""How long an unfinished clean-sync snapshot may be resumed."""
RECENT_ALERTS_MS = 24 * 3600 * 1000
"""Closed alerts listed as ``recent`` for this long."""
ALERT_REFRESH_AFTER_MS = 60_000
"""An open alert's details are recomputed at most this often."""
HIGH_SEVERITY_WITHIN_MS = 60 * 60 * 1000
"""A visit starting within the hour (or already under way) makes an alert high severity."""

# -- the store
STORE_CHECKOUT_TIMEOUT_S = 30.0
"""Longest wait for a free database connection (the ORM pool's and the hot writes'):
a write that cannot get one in time is answered as unavailable (503), not left hanging."""
HOT_COMMAND_TIMEOUT_S = 30.0
"""Longest a statement of a hot write on PostgreSQL may run (a lock wait, a silent
network) before its connection is given up and the write answered as unavailable."""

# -- cluster bookkeeping
PRESENCE_TOUCH_INTERVAL_S = 5.0
"""How often a node marks itself alive by default, and the longest ``--presence-interval``
allowed: reports and alerts count a node's sockets for three of these after its last touch,
and the cleanup job removes a node silent for three of its own intervals."""
DEVICE_EFFECTS_POLL_INTERVAL_S = 0.25
"""How often every node reads recent device effects (the path that needs no bus)."""
DEVICE_EFFECTS_LOOKBACK_MS = 10_000
"""Each poll reads the effects of this last stretch (transactions may commit out of order)."""
DEVICE_EFFECTS_RETENTION_MS = 60_000
"""Device effects older than this are deleted."""
MIGRATION_LOCK_ID = 7262001
"""PostgreSQL advisory lock taken while migrating, so nodes starting together take turns."""

# -- query strings
MAX_PAGE_NUMBER = 1_000_000
"""Largest ``page`` a listing accepts: offsets stay far inside 64-bit integers."""

SEEN_DETECTION_INTERVAL_S = 30.0
"""Seconds between the "delivered but not seen" and late-visit passes (once per cluster;
never more often than the sync-mismatch passes). Their alerts look hours and minutes
ahead: half a minute late costs nothing, and the passes cost less than running every 10 s."""
SEEN_DETECTION_LOOKBACK_MS = 60_000
"""A "delivered but not seen" pass reads again what happened this long before its previous
pass (changes, acks, closed alerts): transactions commit out of order, and the times they
carry come from the clocks of the nodes that wrote them."""
SEEN_FULL_PASS_INTERVAL_S = 600.0
"""A "delivered but not seen" pass reads every visit around now at least this often (the
others read only what changed since the previous pass): the net under what no timestamp
records, such as a device reactivated."""
