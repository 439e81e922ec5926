"""Cells a spreadsheet would run as a formula are written as plain text.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``,
``-`` or ``@``, and some also after a leading tab or carriage return; a carer's name or a
device name like ``=HYPERLINK(…)`` in a CSV download would then run in the office's
spreadsheet (OWASP "CSV injection"). Such a cell gets a leading apostrophe, which
spreadsheets show as text and do not display.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet will evaluate."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
