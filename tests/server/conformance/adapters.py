"""The command templates of the adapters in the repository, run with this interpreter."""

from __future__ import annotations

import shlex
import sys

PLACEHOLDERS = "{url} {token} {uuid} {state_dir}"
PYTHON = shlex.quote(sys.executable)
SDK_ADAPTER = f"{PYTHON} -m server.conformance.adapters.python_sdk {PLACEHOLDERS}"


def broken_adapter(bug: str) -> str:
    return f"{PYTHON} -m server.conformance.adapters.broken --bug {bug} {PLACEHOLDERS}"
