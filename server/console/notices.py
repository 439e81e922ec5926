"""The notices console pages show above their content, chosen by the server.

A redirect names a notice by its code (``?message=signed-out``); a code that is not
listed here shows nothing, so a crafted link cannot put words in the console's mouth.
"""

from __future__ import annotations

from starlette.requests import Request

_PHONES = " Phones shows whether each carer's phone has it (delivered) or gets it when it connects (queued)."

NOTICES = {
    "sign-in": "Please sign in.",
    "expired": "Your session has expired; please sign in again.",
    "signed-out": "Signed out.",
    "rescheduled": "Visit rescheduled." + _PHONES,
    "reassigned": "Carers changed." + _PHONES,
    "cancelled": "Visit cancelled." + _PHONES,
    "reinstated": "Visit reinstated." + _PHONES,
    "created": "Visit created." + _PHONES,
    "notes-changed": "Notes changed." + _PHONES,
    "notes-to-acknowledge": (
        "Notes sent; each carer must acknowledge them. Seen shows who has, and an alert follows if they do not."
    ),
    "contact-saved": "Contact saved; alerts about this carer show it.",
    "device-renamed": "Device renamed.",
    "device-revoked": "Device revoked: its tokens no longer work and its connection was closed.",
    "device-deactivated": "Device deactivated: it is refused from now on and its connection was closed.",
    "device-reactivated": "Device reactivated: it may connect again with its token.",
}


def notice_of(request: Request) -> str | None:
    """The notice named by ``?message=`` (None for a missing or unknown code)."""
    return NOTICES.get(request.query_params.get("message", ""))
