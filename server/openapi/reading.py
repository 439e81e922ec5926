"""The OpenAPI document as a person reads it: operations by tag, each with its parameters,
body and answers, and every schema as a table of fields. The docs page renders this."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_REF_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class TypePart:
    """One piece of a rendered type: plain text, or a schema's name linking to its table."""

    text: str
    anchor: str | None = None


@dataclass(frozen=True)
class Field:
    name: str
    type: list[TypePart]
    required: bool
    description: str


@dataclass(frozen=True)
class Schema:
    name: str
    anchor: str
    description: str
    fields: list[Field]


@dataclass(frozen=True)
class Payload:
    label: str
    """``request body`` or a status (``200``, ``default``)."""
    description: str
    type: list[TypePart]
    example: str | None


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    summary: str
    auth: str
    parameters: list[Field]
    payloads: list[Payload]


@dataclass(frozen=True)
class Section:
    tag: str
    operations: list[Operation]


def anchor_of(name: str) -> str:
    return f"schema-{name}"


def type_of(schema: dict[str, Any]) -> list[TypePart]:
    """A schema as a short readable type: ``string (date-time)``, ``VisitView[]``, ``"a" | "b"``."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF_PREFIX)
        return [TypePart(name, anchor_of(name))]
    if "anyOf" in schema or "oneOf" in schema:
        parts: list[TypePart] = []
        for index, member in enumerate(schema.get("anyOf") or schema["oneOf"]):
            if index:
                parts.append(TypePart(" | "))
            parts += type_of(member)
        return parts
    if "enum" in schema:
        return [TypePart(" | ".join(json.dumps(value) for value in schema["enum"]))]
    kind = schema.get("type", "any")
    if kind == "array":
        return [*type_of(schema.get("items", {})), TypePart("[]")]
    if kind == "object" and schema.get("additionalProperties") is True:
        return [TypePart("object (any fields)")]
    text = str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    return [TypePart(text)]


def _schema(name: str, schema: dict[str, Any]) -> Schema:
    required = set(schema.get("required", []))
    fields = [
        Field(field, type_of(prop), field in required, str(prop.get("description", "")))
        for field, prop in schema.get("properties", {}).items()
    ]
    return Schema(name, anchor_of(name), str(schema.get("description", "")), fields)


def _example(media: dict[str, Any]) -> str | None:
    return json.dumps(media["example"], indent=2) if "example" in media else None


def _payloads(operation: dict[str, Any]) -> list[Payload]:
    found: list[Payload] = []
    body = operation.get("requestBody")
    if body is not None:
        media = body["content"]["application/json"]
        label = "request body" if body.get("required") else "request body (optional)"
        found.append(Payload(label, "", type_of(media["schema"]), _example(media)))
    for status, answer in operation["responses"].items():
        media = answer.get("content", {}).get("application/json")
        if media is None:
            found.append(Payload(status, answer["description"], [TypePart("no body")], None))
        else:
            found.append(Payload(status, answer["description"], type_of(media["schema"]), _example(media)))
    return found


def _auth(operation: dict[str, Any]) -> str:
    schemes = [name for requirement in operation.get("security", []) for name in requirement]
    return f"bearer token ({', '.join(schemes)})" if schemes else "none"


def read(document: dict[str, Any]) -> tuple[list[Section], list[Schema]]:
    """The document's operations grouped by tag (in the document's order), and its schemas by name."""
    sections: dict[str, list[Operation]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            parameters = [
                Field(p["name"], type_of(p["schema"]), p["required"], f"{p['in']}: {p.get('description', '')}")
                for p in operation.get("parameters", [])
            ]
            entry = Operation(
                operation["operationId"],
                method.upper(),
                path,
                operation["summary"],
                _auth(operation),
                parameters,
                _payloads(operation),
            )
            sections.setdefault(operation["tags"][0], []).append(entry)
    schemas = [_schema(name, schema) for name, schema in sorted(document["components"]["schemas"].items())]
    return [Section(tag, operations) for tag, operations in sections.items()], schemas
