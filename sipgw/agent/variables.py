"""Per-call variables: the rules they follow, and the ``{name}`` placeholders that use them.

A call may carry variables (:attr:`sipgw.agent.base.CallDetails.variables`): a flat set of
names and short texts, e.g. ``first_name=Ada``, ``appointment=Tuesday 3 pm``, given
when the call is placed (``POST /api/calls``, ``sipgw call --var``), by a line, by a
Twilio stream's custom parameters (those it refuses are left out) or by the browser call
page's query string. :func:`check_variables` is the one rule for them:
names are identifiers (a letter or ``_``, then letters, digits, ``_``), values one line
of printable text, both bounded, and not too many.

Templates (the system prompt, the greetings) use them as ``{name}``: :func:`render`
fills them in. Only ``{`` + identifier + ``}`` is a placeholder; any other brace is
text (a JSON example in a prompt stays as it is), and ``{{name}}`` writes a literal
``{name}``. :func:`placeholders` lists what a template uses, and raises
:class:`TemplateError` on a placeholder left open (``{first_name, hello``), which a
start-up check turns into an error naming the setting. A template that needs a variable
the call lacks raises :class:`MissingVariables` from :func:`render`: placing such a call
is refused before it is dialled; an incoming one goes on with the placeholder left
empty (:func:`render_lenient`), said once in the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from sipgw.agent.base import Direction

__all__ = [
    "MAX_NAME",
    "MAX_VALUE",
    "MAX_VARIABLES",
    "MissingVariables",
    "TemplateError",
    "VariablesCheck",
    "check_variables",
    "placeholders",
    "render",
    "render_lenient",
]

MAX_VARIABLES = 50
"""Variables one call may carry."""
MAX_NAME = 64
"""Characters of a variable's name."""
MAX_VALUE = 1000
"""Characters of a variable's value."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# {{ and }} are literal braces; {name} is a placeholder; "{name" with no "}" is an error.
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(\}?)")


class TemplateError(ValueError):
    """A template has a placeholder that is not closed."""


class MissingVariables(KeyError):
    """A template uses variables the call does not have.

    Attributes:
        names: the missing names, in the order the template uses them.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(dict.fromkeys(names))
        super().__init__(", ".join(self.names))

    def __str__(self) -> str:
        listed = ", ".join(f"{{{name}}}" for name in self.names)
        return f"no variable for {listed}"


@runtime_checkable
class VariablesCheck(Protocol):
    """An agent factory that can say, before a call is placed, which variables it lacks."""

    def missing_variables(
        self, variables: Mapping[str, str], direction: Direction
    ) -> tuple[str, ...]:
        """The names its templates use for such a call that ``variables`` lacks."""
        ...


def check_variables(variables: Mapping[str, object]) -> dict[str, str]:
    """The variables, checked: each name an identifier, each value a string.

    Raises:
        ValueError: saying which name or value is wrong, and what is allowed.
    """
    if len(variables) > MAX_VARIABLES:
        raise ValueError(f"at most {MAX_VARIABLES} variables per call ({len(variables)} given)")
    checked: dict[str, str] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
            raise ValueError(
                f"variable name {name!r} must be a letter or _ followed by letters, digits "
                f"or _ (at most {MAX_NAME} characters)"
            )
        if not isinstance(value, str):
            raise ValueError(f"variable {name}: the value must be a string")
        if any(not ch.isprintable() for ch in value):
            raise ValueError(f"variable {name}: the value must be one line of printable text")
        if len(value) > MAX_VALUE:
            raise ValueError(f"variable {name}: the value is longer than {MAX_VALUE} characters")
        checked[name] = value
    return checked


def placeholders(template: str) -> tuple[str, ...]:
    """The variable names ``template`` uses, in order, each once.

    Raises:
        TemplateError: a placeholder is not closed (``{name`` without ``}``).
    """
    names: list[str] = []
    for match in _TOKEN.finditer(template):
        name, closed = match.groups()
        if name is None:
            continue
        if not closed:
            raise TemplateError(f"{{{name} has no closing brace (write {{{{ for a brace)")
        names.append(name)
    return tuple(dict.fromkeys(names))


def _fill(template: str, variables: Mapping[str, str], missing: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, closed = match.groups()
        if name is None:
            return match.group(0)[0]  # {{ -> {, }} -> }
        if not closed:
            return match.group(0)
        if name in variables:
            return variables[name]
        missing.append(name)
        return ""

    return _TOKEN.sub(substitute, template)


def render(template: str, variables: Mapping[str, str]) -> str:
    """``template`` with every ``{name}`` replaced by its variable.

    Raises:
        MissingVariables: a variable it uses is not in ``variables``.
    """
    missing: list[str] = []
    text = _fill(template, variables, missing)
    if missing:
        raise MissingVariables(missing)
    return text


def render_lenient(template: str, variables: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """``template`` rendered with missing variables left empty, and their names."""
    missing: list[str] = []
    text = _fill(template, variables, missing)
    return text, tuple(dict.fromkeys(missing))
