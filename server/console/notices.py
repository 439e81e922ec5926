"""The notices console pages show above their content, chosen by the server.

A redirect names a notice by its code (``?message=signed-out``); a code that is not
listed here shows nothing, so a crafted link cannot put words in the console's mouth.
"""

from __future__ import annotations

from starlette.requests import Request

NOTICES = {
    "sign-in": "Please sign in.",
    "expired": "Your session has expired; please sign in again.",
    "signed-out": "Signed out.",
    "rescheduled": "Visit rescheduled; the carer's phone has been sent the change.",
    "reassigned": "Carers changed; both carers' phones have been sent the change.",
    "cancelled": "Visit cancelled; the carer's phone has been sent the change.",
    "device-renamed": "Device renamed.",
    "device-revoked": "Device revoked: its tokens no longer work and its connection was closed.",
    "device-deactivated": "Device deactivated: it is refused from now on and its connection was closed.",
    "device-reactivated": "Device reactivated: it may connect again with its token.",
}


def notice_of(request: Request) -> str | None:
    """The notice named by ``?message=`` (None for a missing or unknown code)."""
    return NOTICES.get(request.query_params.get("message", ""))
