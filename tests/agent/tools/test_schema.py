"""The strict tool-argument validator (agent/tools/schema.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sipgw.agent.tools.registry import Tool, ToolRegistry
from sipgw.agent.tools.schema import SchemaError, check_schema, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "phone": {"type": "string", "maxLength": 16, "pattern": "^[+0-9]+$"},
        "kind": {"enum": ["a", "b"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
    "required": ["phone"],
    "additionalProperties": False,
}

CASES = [
    ({"phone": "+15550100"}, None),
    ({"phone": "+15550100", "kind": "a", "count": 2, "tags": ["x"]}, None),
    ({}, "missing required argument(s): phone"),
    ({"phone": 15550100}, "'phone' should be string, got integer"),
    ({"phone": "sip:x@evil"}, "does not match the pattern"),
    ({"phone": "+1" * 10}, "longer than 16"),
    ({"phone": "+1", "kind": "c"}, "should be one of"),
    ({"phone": "+1", "count": 0}, "below the minimum"),
    ({"phone": "+1", "count": 4}, "above the maximum"),
    ({"phone": "+1", "count": True}, "should be integer"),
    ({"phone": "+1", "count": 2.5}, "should be integer"),
    ({"phone": "+1", "tags": ["x", "y", "z"]}, "more than 2 items"),
    ({"phone": "+1", "tags": [1]}, "'tags'[0] should be string"),
    ({"phone": "+1", "target": "sip:attacker@evil"}, "unexpected argument 'target'"),
]


@pytest.mark.parametrize(("args", "problem"), CASES)
def test_validate(args: dict[str, Any], problem: str | None) -> None:
    found = validate(args, SCHEMA)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_unsupported_keywords_are_refused_at_registration() -> None:
    check_schema(SCHEMA)
    with pytest.raises(SchemaError, match="oneOf"):
        check_schema({"type": "object", "properties": {"x": {"oneOf": []}}})

    async def handler(ctx: object, args: dict[str, Any]) -> object:
        return {}

    bad = Tool("t", "d", {"type": "object", "anyOf": []}, handler)
    with pytest.raises(ValueError, match="unsupported keyword 'anyOf'"):
        ToolRegistry([bad])


def test_builtin_tools_are_closed_and_bounded() -> None:
    from sipgw.agent.tools.builtin import builtin_tools
    from sipgw.agent.tools.settings import BuiltinToolSettings

    for tool in builtin_tools(BuiltinToolSettings()):
        assert tool.parameters.get("additionalProperties") is False, tool.name
        for name, spec in tool.parameters["properties"].items():  # type: ignore[attr-defined]
            assert spec.get("maxLength"), (tool.name, name)
