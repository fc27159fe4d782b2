"""The README's facts that are names or numbers, checked against the code; docs/ headings.

What the README says ships, it ships: the agents it names and counts are exactly the built-in
agents (``BUILTIN_AGENTS``), every ``--agent NAME`` it shows is one of them, every
``SIPGW_`` setting it names is declared in a settings section (the catalogue,
``sipgw/app/sections.py``), every ``sipgw COMMAND`` it shows is a subcommand of the CLI, and
every page of docs/ is linked from it, through links that resolve. No heading of the docs is
named after a work item ("Issue 20", "stop 47"): a page says what the code does today.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sipgw.app.cli import build_parser
from sipgw.app.sections import SECTIONS
from sipgw.app.settings import BUILTIN_AGENTS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10}  # fmt: skip
WORK_ITEM = re.compile(r"\bissue\s*#?\d+|\bstop\s+\d+", re.IGNORECASE)


def _code(text: str) -> list[str]:
    """The README's code: fenced blocks and inline spans (prose says "sipgw is ...")."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def _agents_paragraph(text: str) -> tuple[int, list[str]]:
    """The count the README gives ("Six agents ship with it") and the agents its list names."""
    match = re.search(r"^(\w+) agents ship with it.*?\n\n(.*?)\n\n(?!- )", text, re.M | re.S)
    assert match, "README: no 'N agents ship with it' paragraph followed by its list"
    word = match[1].lower()
    assert word in NUMBERS, f"README: {match[1]!r} is not a number word"
    items = re.findall(r"^- (.*?)(?=^- |\Z)", match[2], re.M | re.S)
    names = [name for item in items for name in re.findall(r"\*\*([\w-]+)\*\*", item.split(":")[0])]
    return NUMBERS[word], names


def _subcommands() -> set[str]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(commands.choices)


def test_the_agents_it_counts_and_names_are_the_shipped_ones() -> None:
    count, names = _agents_paragraph(README.read_text())
    assert sorted(names) == sorted(BUILTIN_AGENTS), (names, sorted(BUILTIN_AGENTS))
    assert count == len(BUILTIN_AGENTS) == len(names)


def test_every_agent_it_shows_by_name_is_a_builtin() -> None:
    shown = {
        name
        for code in _code(README.read_text())
        for name in re.findall(r"--agent[ =]([a-z][\w-]*)\b(?![.:])", code)
    }
    assert shown, "README shows no --agent NAME"
    assert shown <= set(BUILTIN_AGENTS), shown - set(BUILTIN_AGENTS)


def test_every_setting_it_names_is_declared() -> None:
    declared = {spec.env for info in SECTIONS for _, spec in info.settings}
    named = set(re.findall(r"\bSIPGW_[A-Z0-9_]+\b", README.read_text()))
    assert named, "README names no SIPGW_ setting"
    assert named <= declared, f"README names settings no section declares: {named - declared}"


def test_every_command_it_shows_is_a_subcommand() -> None:
    shown = {
        command
        for code in _code(README.read_text())
        for command in re.findall(r"(?:^|[\s/])sipgw ([a-z][\w-]*)", code, re.M)
    }
    assert {"serve", "call"} <= shown, shown
    assert shown <= _subcommands(), shown - _subcommands()


def test_its_links_resolve_and_it_links_every_page() -> None:
    links = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if not link.startswith(("http://", "https://", "mailto:"))]
    for link in local:
        assert (ROOT / link).exists(), f"README: broken link {link}"
    linked = {(ROOT / link).resolve() for link in local}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"README's 'Read on' does not link {missing}"


@pytest.mark.parametrize(
    "page", [README, *sorted(DOCS.glob("**/*.md"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_heading_is_named_after_a_work_item(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)  # code: no headings
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert not [h for h in headings if WORK_ITEM.search(h)], [
        h for h in headings if WORK_ITEM.search(h)
    ]
