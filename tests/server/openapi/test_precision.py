"""The OpenAPI document is valid and precise: times carry their format, free-form objects
say so, closed sets are enums, every body and answer has an example that matches its
schema, and operation ids are readable, camelCase and unique."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

import server.app  # noqa: F401  (imports every module that defines an error class)
from protocol.errors import ErrorCode
from server.openapi.closed_sets import DEVICE_STATES, ERROR_CODES
from server.openapi.document import document
from server.services.device_report import _state
from server.services.errors import ServiceError

TIME_NAME = re.compile(r"(_at|_on|_date|_time|^earliest_start|^date|^time)$")
"""Names that hold a moment or a day (``timezone`` is a zone's name, not a time)."""


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object under ``node``, with where it is."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _properties() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for where, schema in _walk(document()):
        for name, prop in schema.get("properties", {}).items() if isinstance(schema.get("properties"), dict) else ():
            yield where, name, prop


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in [prop, *prop.get("anyOf", [])] if b.get("type") == "string"]


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


def test_every_time_field_has_a_format() -> None:
    time_fields = [(where, name, prop) for where, name, prop in _properties() if TIME_NAME.search(name)]
    assert len(time_fields) >= 31, "the document's time fields are all found"
    missing = [
        f"{where}/{name}"
        for where, name, prop in time_fields
        for branch in _branches(prop)
        if branch.get("format") not in ("date-time", "date")
    ]
    assert missing == []
    for parameter in (
        p for methods in document()["paths"].values() for op in methods.values() for p in op["parameters"]
    ):
        if parameter["name"] in ("from", "to"):  # a window of times, or of dates (an export)
            assert parameter["schema"]["format"] in ("date-time", "date")


def test_no_object_without_fields_unless_it_is_free_form() -> None:
    """``{"type": "object"}`` alone becomes ``Record<string, never>`` in generated TypeScript."""
    closed_and_empty = [
        where
        for where, schema in _walk(document()["components"])
        if schema.get("type") == "object"
        and not schema.get("properties")
        and schema.get("additionalProperties") in (None, False)
    ]
    assert closed_and_empty == []
    data = document()["components"]["schemas"]["FormSubmission"]["properties"]["data"]
    assert data == {"type": "object", "additionalProperties": True}


def test_operation_ids_are_camel_case_and_unique() -> None:
    ids = [op["operationId"] for methods in document()["paths"].values() for op in methods.values()]
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    reschedule = document()["paths"]["/api/v1/visits/{visit_id}/reschedule"]["post"]
    assert reschedule["operationId"] == "rescheduleVisit"


def test_closed_sets_are_enums() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["UserBody"]["properties"]["role"]["enum"] == ["carer", "coordinator", "admin"]
    assert schemas["SignedInUser"]["properties"]["role"]["enum"] == ["admin", "coordinator"]
    assert schemas["ErrorDetail"]["properties"]["code"]["enum"] == list(ERROR_CODES)
    assert schemas["AlertVisit"]["properties"]["status"]["enum"] == ["scheduled", "cancelled"]
    reason = schemas["MutationResult"]["properties"]["reason"]["anyOf"]
    assert {"type": "null"} in reason and "visit_not_found" in reason[0]["enum"]


def _subclasses(kind: type[ServiceError]) -> Iterator[type[ServiceError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_code_of_the_code_base_is_listed() -> None:
    kinds: list[type[ServiceError]] = [ServiceError, *_subclasses(ServiceError)]
    codes = {str(kind.code) for kind in kinds} | {c.value for c in ErrorCode}
    assert codes <= set(ERROR_CODES), codes - set(ERROR_CODES)


def test_every_device_state_is_listed() -> None:
    states = {_state(*flags) for flags in itertools.product((False, True), repeat=3)}
    assert states == set(DEVICE_STATES)


def _media() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document()["paths"].items():
        for method, op in methods.items():
            if "requestBody" in op:
                yield f"{method} {path} body", op["requestBody"]["content"]["application/json"]
            for status, response in op["responses"].items():
                if "application/json" in response.get("content", {}):
                    yield f"{method} {path} {status}", response["content"]["application/json"]


@pytest.mark.parametrize(("where", "media"), list(_media()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_body_and_answer_has_an_example_matching_its_schema(where: str, media: dict[str, Any]) -> None:
    assert "example" in media, f"{where} has no example"
    schema = {**media["schema"], "components": document()["components"]}
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(media["example"])]
    assert errors == [], where
