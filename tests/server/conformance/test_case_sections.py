"""Every case has a stable, well-formed id, a level, and cites a section heading that
exists in docs/protocol.md."""

from __future__ import annotations

import re
from pathlib import Path

from server.conformance.case import Level
from server.conformance.cases import all_cases

PROTOCOL_DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
HEADING = re.compile(r"^#{2,3} (\d+[a-z]?(?:\.\d+)?)\.? ", re.MULTILINE)


def _sections() -> set[str]:
    return {f"§{number}" for number in HEADING.findall(PROTOCOL_DOC.read_text())}


def test_each_case_cites_an_existing_section_of_the_protocol() -> None:
    sections = _sections()
    assert {"§1", "§2", "§4a", "§7.2"} <= sections
    for case in all_cases():
        assert case.section in sections, f"{case.id} cites {case.section}, not a heading of docs/protocol.md"


def test_case_ids_are_stable_names_with_a_level_and_a_title() -> None:
    cases = all_cases()
    assert len(cases) >= 12
    for case in cases:
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", case.id), case.id
        assert case.level in set(Level)
        assert case.title.endswith(".") and "\n" not in case.title


def test_the_conformance_doc_lists_every_case() -> None:
    doc = (PROTOCOL_DOC.parent / "conformance.md").read_text()
    for case in all_cases():
        assert f"`{case.id}`" in doc, f"docs/conformance.md does not list {case.id}"
