"""The SDK and protocol packages tell type checkers they are typed (PEP 561), as installed."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["client_sdk", "protocol"])
def test_the_package_ships_py_typed(package: str) -> None:
    assert files(package).joinpath("py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data[package]
