"""Each seeded bug of the broken adapter fails exactly the cases that check its rule, so
every one of those cases can fail and names the right rule.

A bug is run against the cases of the areas its expected failures belong to (``close.*``
for a close code bug): its own cases fail, their neighbours, which check the rules next to
it, pass. The whole suite against every bug would take the kit's CI time past 5 minutes;
that every case passes on a client without the bug is the Python SDK's test."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.conformance.adapters.broken import BUGS
from server.conformance.case import Level
from server.conformance.cases import all_cases
from server.conformance.runner import run_cases
from tests.server.conformance.adapters import broken_adapter

pytestmark = pytest.mark.e2e

EXPECTED_FAILURES = {
    "ack-before-apply": {"ack.after-apply", "ack.never-ahead"},
    "ignores-gaps": {"epoch.office-reset", "gap.change-repaired", "gap.heartbeat-repaired", "soak.faults-converge"},
    "reconnects-after-terminal": {"close.4100-terminal", "close.4101-terminal"},
    "loses-outbox-on-kill": {"outbox.survives-kill"},
    "keeps-data-on-reset": {"epoch.office-reset"},
    "ignores-resync-in-sync-response": {"resync.in-sync-response"},
    "ignores-close-waits": {"close.4000-waits-reconnect-after", "close.4003-waits-retry-hint"},
    "skips-http-acks": {"sync.http-fallback"},
    "ignores-frame-limit": {"frames.uploads-within-limit"},
    "forgets-enrolled-token": {"enrol.new-token-resumes"},
    "ignores-silence": {"heartbeat.silence-reconnects"},
    "hammers-reconnects": {"reconnect.backoff"},
    "forgets-seen-offline": {"seen.survives-kill"},
    "ignores-marked-changes": {"seen.marked-notes"},
}


def test_every_seeded_bug_has_its_expected_failures() -> None:
    assert set(EXPECTED_FAILURES) == set(BUGS)


@pytest.mark.parametrize("bug", sorted(EXPECTED_FAILURES))
async def test_a_seeded_bug_fails_exactly_its_cases(bug: str, tmp_path: Path) -> None:
    areas = {case_id.split(".")[0] for case_id in EXPECTED_FAILURES[bug]}
    cases = [case for case in all_cases() if case.id.split(".")[0] in areas]
    results = await run_cases(cases, broken_adapter(bug), tmp_path, jobs=2)

    failed = {r.case.id for r in results if r.verdict != "pass"}
    assert failed == EXPECTED_FAILURES[bug], {r.case.id: r.actual for r in results if r.verdict != "pass"}
    for result in results:
        if result.verdict != "pass":
            assert result.fails_run == (result.case.level == Level.MUST)
            assert result.expected and result.actual
            assert result.frames, "a failure shows the frames exchanged"
