"""The QR code a phone scans to enrol: an inline SVG (no image request, allowed by the CSP)."""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from markupsafe import Markup


def enrolment_link(server_url: str, code: str) -> str:
    """What the QR code holds: the server to enrol with and the one-time code."""
    return "caresync://enrol?" + urlencode({"server": server_url, "code": code})


def qr_svg(text: str, title: str) -> Markup:
    """``text`` as an inline SVG QR code, titled for screen readers."""
    svg = segno.make_qr(text, error="m").svg_inline(scale=5, border=4, title=title, omitsize=False)
    return Markup(svg)  # segno escapes the title; the rest is path data
