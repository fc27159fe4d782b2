"""A small strict JSON Schema validator for tool arguments (the subset tools declare).

The model's arguments are checked against the tool's ``parameters`` before the
tool runs; the first problem goes back to the model as a tool error (and into
the call record), and the handler never sees arguments its schema refuses.

Supported keywords: ``type`` (a name or a list of names), ``enum``, ``const``,
``properties``, ``required``, ``additionalProperties`` (``false`` or a schema),
``minProperties``/``maxProperties``, ``items``, ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``pattern`` (Python ``re.search``, as JSON Schema
does), ``minimum``/``maximum``, ``exclusiveMinimum``/``exclusiveMaximum``.
Annotations (``description``, ``title``, ``default``, ``examples``, ``format``,
``$comment``) are ignored. A schema with any other keyword is refused when the
tool is registered (:func:`check_schema`): a keyword silently ignored would be
a check silently skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SchemaError", "check_schema", "validate"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
_VALIDATION = frozenset(
    {"type", "enum", "const", "properties", "required", "additionalProperties"}
    | {"minProperties", "maxProperties", "items", "minItems", "maxItems"}
    | {"minLength", "maxLength", "pattern", "minimum", "maximum"}
    | {"exclusiveMinimum", "exclusiveMaximum"}
)
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "format", "$comment"})


class SchemaError(ValueError):
    """A tool's schema uses something this validator does not check."""


def check_schema(schema: Mapping[str, Any], where: str = "parameters") -> None:
    """Refuse a schema with keywords or values this validator does not support.

    Raises:
        SchemaError: names the keyword and where it is.
    """
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _VALIDATION:
            raise SchemaError(f"{where}: unsupported keyword {key!r}")
        if key == "type":
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(n in _TYPES for n in names):
                raise SchemaError(f"{where}: unknown type {value!r}")
        elif key == "properties":
            if not isinstance(value, Mapping):
                raise SchemaError(f"{where}.properties: not an object")
            for name, sub in value.items():
                _check_sub(sub, f"{where}.properties.{name}")
        elif key in ("items", "additionalProperties") and not isinstance(value, bool):
            _check_sub(value, f"{where}.{key}")
        elif key == "pattern":
            try:
                re.compile(str(value))
            except re.error as exc:
                raise SchemaError(f"{where}.pattern: {exc}") from None
        elif key in ("required", "enum") and not isinstance(value, list):
            raise SchemaError(f"{where}.{key}: not a list")


def _check_sub(schema: object, where: str) -> None:
    if not isinstance(schema, Mapping):
        raise SchemaError(f"{where}: not a schema object")
    check_schema(schema, where)


def validate(value: Any, schema: Mapping[str, Any], path: str = "arguments") -> str | None:
    """The first way ``value`` breaks ``schema`` (``path`` names where), or None."""
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else list(declared)
        if not any(_is_type(value, name) for name in names):
            return f"{path} should be {' or '.join(names)}, got {_json_type(value)}"
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        return f"{path} should be one of {schema['enum']}, got {value!r}"
    if "const" in schema and not _same(value, schema["const"]):
        return f"{path} should be {schema['const']!r}"
    if isinstance(value, str):
        return _string(value, schema, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value, schema, path)
    if isinstance(value, list):
        return _array(value, schema, path)
    if isinstance(value, dict):
        return _object(value, schema, path)
    return None


def _string(value: str, schema: Mapping[str, Any], path: str) -> str | None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        return f"{path} is shorter than {schema['minLength']} characters"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{path} is longer than {schema['maxLength']} characters"
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return f"{path} does not match the pattern {schema['pattern']!r}"
    return None


def _number(value: float, schema: Mapping[str, Any], path: str) -> str | None:
    if "minimum" in schema and value < schema["minimum"]:
        return f"{path} is below the minimum {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"{path} is above the maximum {schema['maximum']}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"{path} should be above {schema['exclusiveMinimum']}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        return f"{path} should be below {schema['exclusiveMaximum']}"
    return None


def _array(value: list[Any], schema: Mapping[str, Any], path: str) -> str | None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        return f"{path} has fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path} has more than {schema['maxItems']} items"
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            if problem := validate(item, items, f"{path}[{index}]"):
                return problem
    return None


def _object(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> str | None:
    missing = [key for key in schema.get("required", ()) if key not in value]
    if missing:
        return f"missing required argument(s): {', '.join(map(str, missing))}"
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        return f"{path} has fewer than {schema['minProperties']} properties"
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        return f"{path} has more than {schema['maxProperties']} properties"
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        where = f"{path}.{key}" if path != "arguments" else repr(key)
        sub = properties.get(key)
        if sub is None:
            if extra is False:
                return f"unexpected argument {key!r}"
            sub = extra if isinstance(extra, Mapping) else None
        if sub is not None and (problem := validate(item, sub, where)):
            return problem
    return None


def _is_type(value: object, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[name]) if name in _TYPES else False


def _same(a: object, b: object) -> bool:
    """JSON equality: ``1`` is not ``true``."""
    return type(a) is type(b) and a == b or (_is_num(a) and _is_num(b) and a == b)


def _is_num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    for name, types in _TYPES.items():
        if name != "number" and _is_type(value, name) and isinstance(value, types):
            return name
    return "number" if isinstance(value, float) else type(value).__name__
