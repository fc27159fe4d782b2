"""Per-call variables and {name} placeholders (agent/variables.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.variables import (
    MAX_NAME,
    MAX_VALUE,
    MAX_VARIABLES,
    MissingVariables,
    TemplateError,
    check_variables,
    placeholders,
    render,
    render_lenient,
)


def test_good_variables_pass() -> None:
    assert check_variables({"first_name": "Ada", "_x1": "", "appointment": "Tue, 3 pm"}) == {
        "first_name": "Ada", "_x1": "", "appointment": "Tue, 3 pm",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first name": "Ada"}, "variable name 'first name' must be a letter or _"),
        ({"1st": "x"}, "variable name '1st'"),
        ({"a" * (MAX_NAME + 1): "x"}, "at most 64 characters"),
        ({"n": 3}, "variable n: the value must be a string"),
        ({"n": ["a"]}, "the value must be a string"),
        ({"n": "two\nlines"}, "one line of printable text"),
        ({"n": "x" * (MAX_VALUE + 1)}, "longer than 1000 characters"),
        ({f"v{i}": "" for i in range(MAX_VARIABLES + 1)}, "at most 50 variables"),
    ],
)
def test_bad_variables_are_named(variables: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_variables(variables)


def test_placeholders_in_order_once_and_other_braces_are_text() -> None:
    template = 'Hi {first_name}! {"json": 1} {{literal}} {date} and {first_name} again {}'
    assert placeholders(template) == ("first_name", "date")
    assert render(template, {"first_name": "Ada", "date": "Tuesday"}) == (
        'Hi Ada! {"json": 1} {literal} Tuesday and Ada again {}'
    )


def test_an_unclosed_placeholder_is_an_error_saying_how_to_write_a_brace() -> None:
    with pytest.raises(TemplateError, match=r"\{first_name has no closing brace \(write \{\{"):
        placeholders("Hello {first_name, how are you?")


def test_missing_variables_are_named_or_left_empty() -> None:
    with pytest.raises(MissingVariables) as caught:
        render("Hi {first_name}, your {appointment} with {doctor}", {"doctor": "Dr. Who"})
    assert caught.value.names == ("first_name", "appointment")
    assert str(caught.value) == "no variable for {first_name}, {appointment}"
    assert render_lenient("Hi {first_name}.", {}) == ("Hi .", ("first_name",))
