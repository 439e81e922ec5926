"""pyproject.toml's version ranges are true: each floor is what the lock pins (so the whole
suite runs on it in CI), and the lock satisfies every range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[1]
PINNED = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", re.MULTILINE)


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return [Requirement(text) for text in [*project["dependencies"], *(t for group in extras.values() for t in group)]]


def _pins(lock: str) -> dict[str, Version]:
    return {canonicalize_name(name): Version(v) for name, v in PINNED.findall((ROOT / lock).read_text())}


def _floor(requirement: Requirement) -> Version | None:
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return max(floors) if floors else None


def test_every_declared_dependency_has_a_floor_equal_to_the_lock() -> None:
    pins = _pins("requirements-dev.lock")
    wrong = []
    for requirement in _declared():
        pinned = pins.get(canonicalize_name(requirement.name))
        floor = _floor(requirement)
        if pinned is None:
            wrong.append(f"{requirement.name}: not in requirements-dev.lock (regenerate it, docs/operations.md)")
        elif floor != pinned:
            wrong.append(f"{requirement.name}: floor {floor} but CI tests {pinned}; make the floor >={pinned}")
    assert wrong == [], "pyproject.toml's floors are not what is tested:\n" + "\n".join(wrong)


def test_both_locks_satisfy_the_declared_ranges() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        pins = _pins(lock)
        outside = [
            f"{r.name}=={pins[canonicalize_name(r.name)]} is outside {r.specifier}"
            for r in _declared()
            if canonicalize_name(r.name) in pins and pins[canonicalize_name(r.name)] not in r.specifier
        ]
        assert outside == [], f"{lock}: " + "; ".join(outside)


def test_the_server_lock_pins_every_runtime_dependency() -> None:
    pins = _pins("requirements.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    missing = [t for t in project["dependencies"] if canonicalize_name(Requirement(t).name) not in pins]
    assert missing == []


def test_the_two_locks_pin_the_same_version_of_what_they_share() -> None:
    server, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    differ = {
        name: (str(server[name]), str(dev[name])) for name in server.keys() & dev.keys() if server[name] != dev[name]
    }
    assert differ == {}, "the quick start would install other versions than CI tests"
