"""Sharpening the schemas msgspec generates, so a client generated from the document types
every field it can.

- **Times.** msgspec gives ``format: date-time`` only to a ``datetime`` that must carry a
  zone; every other ``datetime`` (and ``date``) field is found from the Python types
  themselves and given its format, so a time field cannot be missed whatever its name.
- **Free-form objects.** A ``dict[str, Any]`` (a form's ``data``) comes out as a bare
  ``{"type": "object"}``, which generators read as an object with no fields; it is marked
  ``additionalProperties: true``.
- **Closed sets.** Fields typed ``str`` whose values are nonetheless a fixed set (a role,
  an error code, a report row's state) get their ``enum`` from
  :mod:`server.openapi.closed_sets`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec.inspect as mi

from server.openapi.closed_sets import CLOSED_SETS

_FORMATS: dict[type[mi.Type], str] = {mi.DateTimeType: "date-time", mi.DateType: "date", mi.TimeType: "time"}


def _format_of(info: mi.Type) -> str | None:
    """The string format of a field's type, looking through ``X | None``."""
    if isinstance(info, mi.UnionType):
        formats = {_format_of(member) for member in info.types} - {None}
        return formats.pop() if len(formats) == 1 else None
    return _FORMATS.get(type(info))


def _string_branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``{"type": "string"}`` schemas of a property: itself, or its ``anyOf`` members."""
    if schema.get("type") == "string":
        return [schema]
    return [member for member in schema.get("anyOf", []) if member.get("type") == "string"]


def _fields(types: Iterable[Any]) -> Iterable[tuple[str, mi.Field]]:
    """(component name, field) for every struct and dataclass reachable from ``types``."""
    seen: set[int] = set()
    stack: list[mi.Type] = list(mi.multi_type_info(list(types)))
    while stack:
        info = stack.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        if isinstance(info, mi.StructType | mi.DataclassType):
            for field in info.fields:
                yield info.cls.__name__, field
                stack.append(field.type)
        elif isinstance(info, mi.UnionType):
            stack.extend(info.types)
        elif isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            stack.append(info.item_type)
        elif isinstance(info, mi.DictType):
            stack.append(info.value_type)
        elif isinstance(info, mi.Metadata):
            stack.append(info.type)


def _add_time_formats(components: dict[str, Any], types: Iterable[Any]) -> None:
    for component, field in _fields(types):
        info = field.type.type if isinstance(field.type, mi.Metadata) else field.type
        fmt = _format_of(info)
        schema = components.get(component, {}).get("properties", {}).get(field.encode_name)
        if fmt is None or schema is None:
            continue
        for branch in _string_branches(schema):
            branch.setdefault("format", fmt)


def _open_free_form_objects(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" not in node and "additionalProperties" not in node:
            node["additionalProperties"] = True
        for value in node.values():
            _open_free_form_objects(value)
    elif isinstance(node, list):
        for value in node:
            _open_free_form_objects(value)


def _add_closed_sets(components: dict[str, Any]) -> None:
    for (component, field), values in CLOSED_SETS.items():
        schema = components[component]["properties"][field]
        branches = _string_branches(schema)
        if not branches:
            raise ValueError(f"{component}.{field} is not a string: no enum added")
        for branch in branches:
            branch["enum"] = list(values)


def sharpen(components: dict[str, Any], types: Iterable[Any]) -> None:
    """Sharpen ``components`` (generated from ``types``) in place."""
    _add_time_formats(components, types)
    _open_free_form_objects(components)
    _add_closed_sets(components)
