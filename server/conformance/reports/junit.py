"""The JUnit XML report: one ``testcase`` per case, a ``failure`` for a failing one (a
failing SHOULD or MAY is a ``skipped`` with the reason, so it shows without failing CI)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from server.conformance.case import Level
from server.conformance.runner import CaseResult

SUITE_NAME = "caresync-conformance"


def junit_xml(results: list[CaseResult]) -> bytes:
    suite = ET.Element(
        "testsuite",
        name=SUITE_NAME,
        tests=str(len(results)),
        failures=str(sum(r.verdict == "fail" and r.case.level == Level.MUST for r in results)),
        errors=str(sum(r.verdict == "error" for r in results)),
        skipped=str(sum(r.verdict == "fail" and r.case.level != Level.MUST for r in results)),
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    for result in results:
        case = result.case
        element = ET.SubElement(
            suite,
            "testcase",
            classname=f"{SUITE_NAME}.{case.level.value}",
            name=case.id,
            time=f"{result.duration_s:.3f}",
        )
        if result.verdict == "pass":
            continue
        message = f"{case.section} {case.title} Expected {result.expected}; actual {result.actual}"
        tag = {"error": "error", "fail": "failure" if case.level == Level.MUST else "skipped"}[result.verdict]
        detail = ET.SubElement(element, tag, message=message)
        detail.text = "\n".join(f"{f.at_s:8.3f} {f.direction:6} #{f.connection} {f.text}" for f in result.frames)
    root = ET.Element("testsuites")
    root.append(suite)
    encoded: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return encoded
