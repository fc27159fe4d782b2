"""The README's facts that are names or numbers, checked against the code; docs/ headings.

What the README says ships, it ships: the agents it names and counts are exactly the built-in
agents (``BUILTIN_AGENTS``), every ``--agent NAME`` it shows is one of them, every
``SIPGW_`` setting it names is declared in a settings section (the catalogue,
``sipgw/app/sections.py``), every ``sipgw COMMAND`` it shows is a subcommand of the CLI, and
every page of docs/ is linked from it, through links that resolve. No heading of the docs is
named after a work item ("Issue 20", "stop 47"): a page says what the code does today.

The figures it quotes are docs/performance.md's, on the machine it names: in every paragraph
that links docs/performance.md, each clause with a number names one of the machines the
figures were measured on, and each of its numbers is a cell of a row of docs/performance.md's
tables measured on that machine (the machine named in the row, or in the prose around its
table). A figure changed on one page and not the other fails here.
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
PERFORMANCE = DOCS / "performance.md"
MACHINES = ("AMD EPYC", "Intel Xeon")
"""The machines docs/performance.md's figures were measured on, as the pages name them."""
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")


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


def _machines(text: str) -> set[str]:
    flat = " ".join(text.split())
    return {machine for machine in MACHINES if machine in flat}


def _numbers(text: str) -> list[str]:
    """The numbers of some prose: links, code spans and "2-vCPU" (the machine's name) left out."""
    text = re.sub(r"\]\([^)]*\)|`[^`]*`|\b\d+-vCPU\b", " ", text)
    return NUMBER.findall(text)


def measured_rows(performance: str) -> list[tuple[set[str], set[str]]]:
    """(numbers, machines) of every data row of the page's tables: a row's machine is the one it
    names, the row's above when it says "the same", else those the prose around its table names
    (from the heading or table before it to the heading or table after it)."""
    blocks: list[tuple[str, list[str]]] = []  # ("prose" | "table", lines)
    for line in performance.splitlines():
        kind = "table" if line.startswith("|") else "heading" if line.startswith("#") else "prose"
        if not blocks or blocks[-1][0] != kind or kind == "heading":
            blocks.append((kind, []))
        blocks[-1][1].append(line)
    rows: list[tuple[set[str], set[str]]] = []
    for at, (kind, lines) in enumerate(blocks):
        if kind != "table":
            continue
        around = [
            "\n".join(blocks[i][1])
            for i in (at - 1, at + 1)
            if 0 <= i < len(blocks) and blocks[i][0] == "prose"
        ]
        context = _machines(" ".join(around))
        above: set[str] = set()
        for line in lines[2:]:  # the header and its rule are no figures
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            numbers = {n for cell in cells for n in NUMBER.findall(cell)}
            same = any(cell.lower() in ("the same", "same") for cell in cells)
            machines = _machines(line) or (above if same else context)
            rows.append((numbers, machines))
            above = machines
    return rows


def _quoting(readme: str) -> list[str]:
    """The README's paragraphs of prose that link docs/performance.md (tables left out)."""
    return [
        paragraph
        for paragraph in readme.split("\n\n")
        if "](docs/performance.md" in paragraph and not paragraph.lstrip().startswith("|")
    ]


def unmatched_figures(readme: str, performance: str) -> list[str]:
    """The README's figures that no row of docs/performance.md measured on their machine holds."""
    rows = measured_rows(performance)
    problems = []
    for paragraph in _quoting(readme):
        for clause in re.split(r";|\.(?:\s|$)", paragraph):
            numbers = _numbers(clause)
            if not numbers:
                continue
            machines = _machines(clause)
            if len(machines) != 1:
                problems.append(f"{' '.join(clause.split())!r} names no one machine")
                continue
            (machine,) = machines
            for number in numbers:
                if not any(number in found and machine in on for found, on in rows):
                    problems.append(f"{number} on {machine}")
    return problems


def test_the_figures_it_quotes_are_performance_mds_on_the_machine_it_names() -> None:
    readme, performance = README.read_text(), PERFORMANCE.read_text()
    assert any(_numbers(p) for p in _quoting(readme)), "README quotes no figure by its link"
    assert all(machine in performance for machine in MACHINES)
    assert unmatched_figures(readme, performance) == []


LINK = "([docs/performance.md](docs/performance.md))"
PLANTED = """## Capacity

On the AMD EPYC VM, `bench.capacity --steps 200`:

| callers | calls a core |
|---|---|
| tone bursts | 428 |

| figure | p50 | machine |
|---|---|---|
| reply path | 0.36 | Intel Xeon, 2 vCPU |
| barge-in | 52.0 | the same |
"""


def test_a_figure_on_another_machine_or_none_is_found() -> None:
    good = f"On the 2-vCPU AMD EPYC VM a core carries 428 calls {LINK}."
    assert unmatched_figures(good, PLANTED) == []
    assert unmatched_figures(good.replace("428", "500"), PLANTED) == ["500 on AMD EPYC"]
    wrong = f"The Intel Xeon VM carries 428 calls; it stops in 52.0 ms on Intel Xeon {LINK}."
    assert unmatched_figures(wrong, PLANTED) == ["428 on Intel Xeon"]
    assert unmatched_figures(f"One core holds 500 calls {LINK}.", PLANTED) == [
        f"'One core holds 500 calls {LINK}' names no one machine"
    ]
