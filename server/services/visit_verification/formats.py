"""An export written as CSV or JSON, chunk by chunk as its pages are read.

- **CSV**: a header row of :data:`~.rows.COLUMNS`, then one row per visit and carer.
  Times are in the tenant's time zone with their offset (``2026-12-07T08:02:11+00:00``),
  ``yes``/``no`` for booleans, lists joined with ``"; "``, an empty cell for none; any
  text cell a spreadsheet would run as a formula is neutralised as in every CSV the
  server writes (:func:`server.services.spreadsheet.safe_cell`).
- **JSON**: one object, the :class:`~.export.ExportHeader` fields then ``visits``, an
  array of rows; times in the server's one form (UTC, ``…Z``), dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from protocol.codec import encode
from server.services.spreadsheet import safe_cell
from server.services.visit_verification.export import Export
from server.services.visit_verification.rows import COLUMNS

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"


def file_name(export: Export, fmt: str) -> str:
    header = export.header
    scope = header.branch_id or "all-branches"
    return f"visit-verification-{scope}-{header.from_.isoformat()}-to-{header.to.isoformat()}.{fmt}"


async def csv_chunks(export: Export) -> AsyncIterator[bytes]:
    zone = ZoneInfo(export.header.timezone)
    yield _csv_lines([list(COLUMNS)])
    async for page in export.pages:
        yield _csv_lines([[_cell(getattr(row, column), zone) for column in COLUMNS] for row in page])


async def json_chunks(export: Export) -> AsyncIterator[bytes]:
    head = encode(export.header)
    yield head[:-1] + b',"visits":['
    first = True
    async for page in export.pages:
        if not page:
            continue
        body = b",".join(encode(row) for row in page)
        yield body if first else b"," + body
        first = False
    yield b"]}"


def _csv_lines(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _cell(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return safe_cell("; ".join(str(v) for v in value))
    return safe_cell(str(value))
