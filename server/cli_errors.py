"""A service's refusal as the command line says it: the REST field it names is replaced by
the flag the user typed for it (one table for every command)."""

from __future__ import annotations

from server.services.errors import ServiceError

FLAG_FOR_FIELD = {
    "branch_id": "--branch",
    "carer_ids": "--carer",
    "login": "--login",
}
"""REST input fields whose value every command takes from the same flag."""


def refusal(exc: ServiceError) -> str:
    """The one line to print for ``exc``."""
    flag = FLAG_FOR_FIELD.get(exc.field) if exc.field else None
    return f"error: {exc.naming(flag) if flag else exc.message}"
