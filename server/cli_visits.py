"""``caresync visits export``: the visit verification export from the command line.

Runs against the database directly (no server needed), as the tenant's administrator, so
every branch of the tenant can be exported; the rows are the REST API's
(docs/visit-verification.md), written as they are read. With ``--output`` they go to a
file beside it first and replace the file named only once every row is written: a failed
export never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from server.cli_tenant_admin import run_as_tenant_admin
from server.node import Node
from server.services.identity import Staff
from server.services.visit_verification.export import VisitVerification, checked_query
from server.services.visit_verification.formats import csv_chunks, json_chunks
from server.services.visit_verification.rows import VerificationRow
from server.settings import add_flags


def add_commands(commands: Any) -> None:
    actions = commands.add_parser("visits", help="the office's visit records").add_subparsers(
        title="actions", required=True
    )
    export = actions.add_parser(
        "export",
        help="the visit verification export of a branch for a date range (docs/visit-verification.md)",
    )
    add_flags(export, ["database_url"])
    export.add_argument("--tenant", required=True, help="tenant id")
    export.add_argument("--from", dest="first", required=True, help="first date, YYYY-MM-DD, in the tenant's time zone")
    export.add_argument("--to", dest="last", required=True, help="last date, included (at most 92 days in all)")
    export.add_argument("--branch", required=True, help="branch id")
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    export.add_argument("--output", help="write to this file (replaced once complete) instead of standard output")
    export.set_defaults(run=lambda args: run_as_tenant_admin(args, _export))


async def _export(node: Node, staff: Staff, args: argparse.Namespace) -> int:
    query = checked_query(args.first, args.last, args.branch)
    export = await VisitVerification(node.db, node.clock).export(staff, query)
    counted = _Counted(export.pages)
    export.pages = counted.pages()
    chunks = csv_chunks(export) if args.format == "csv" else json_chunks(export)
    if args.output is None:
        await _write(chunks, sys.stdout.buffer)
        sys.stdout.flush()
        return 0
    target = Path(args.output)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            await _write(chunks, out)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    print(f"rows={counted.rows}")
    print(f"output={target}")
    return 0


class _Counted:
    def __init__(self, pages: AsyncIterator[list[VerificationRow]]) -> None:
        self._pages = pages
        self.rows = 0

    async def pages(self) -> AsyncIterator[list[VerificationRow]]:
        async for page in self._pages:
            self.rows += len(page)
            yield page


async def _write(chunks: AsyncIterator[bytes], out: BinaryIO) -> None:
    async for chunk in chunks:
        out.write(chunk)
