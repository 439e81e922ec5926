"""``caresync settings``: the effective value of each setting, named as it is set."""

from __future__ import annotations

from typing import Any

from server.settings import Settings, fields


def _text(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "(unset)"
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value)


def settings_table(settings: Settings) -> str:
    """One line a setting: its flag, its environment variable and its value (secrets hidden)."""
    rows = [("flag", "environment", "value")]
    rows += [(spec.flag, spec.env, _text(spec.shown(getattr(settings, spec.name)))) for spec in fields()]
    flag_width = max(len(row[0]) for row in rows)
    env_width = max(len(row[1]) for row in rows)
    return "".join(f"{flag.ljust(flag_width)}  {env.ljust(env_width)}  {value}\n" for flag, env, value in rows)
