"""Flags on an argparse parser: the first group, one group per section, help and values."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from sipgw.foundation.settings import SectionInfo, section, section_info, setting
from sipgw.foundation.settings.flags import FIRST_TITLE, add_flags, flags_given
from sipgw.foundation.settings.parsers import non_negative, text


@section("one", title="Section one", intro="The first one. It has two sentences.")
@dataclass(frozen=True)
class One:
    a: str = setting("", env="ONE_A", flag="--one-a", metavar="A", parse=text, help="A.")
    b: float = setting(
        1.0, env="ONE_B", flag="--one-b", metavar="S", parse=non_negative, first=True,
        help="B, 100 % of it.",
    )  # fmt: skip
    c: str = setting("", env="ONE_C", parse=text, help="Environment only.")


@section("two", title="Section two", intro="Env only.")
@dataclass(frozen=True)
class Two:
    d: str = setting("x", env="TWO_D", parse=text, help="D.")


def sections() -> list[SectionInfo]:
    found = [section_info(One), section_info(Two)]
    return [info for info in found if info is not None]


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="t", add_help=False)
    add_flags(made, sections(), [("--extra", {"metavar": "E", "help": "more"})])
    return made


def groups(help_text: str) -> dict[str, list[str]]:
    """Heading -> the options listed under it, from ``--help``."""
    found: dict[str, list[str]] = {}
    options: list[str] = []
    for line in help_text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            options = found.setdefault(line[:-1], [])
        elif line.startswith("  -"):
            options.append(line.split()[0].rstrip(","))
    return found


def test_groups_first_then_one_per_flagged_section() -> None:
    found = groups(parser().format_help())
    assert found[FIRST_TITLE] == ["--one-b", "--extra", "-h"]
    assert found["Section one"] == ["--one-a"]
    assert "Section two" not in found  # no flags, no group


def test_help_shows_the_variable_and_default_and_the_intros_first_sentence() -> None:
    text = " ".join(parser().format_help().split())
    assert "--one-b S B, 100 % of it. [env ONE_B, default 1]" in text
    assert "--one-a A A. [env ONE_A]" in text  # no default text: none shown
    assert "Section one: The first one. --one-a" in text
    assert "ONE_C" not in text


def test_flags_given_are_keyed_by_flag() -> None:
    args = parser().parse_args(["--one-a", "v", "--extra", "e"])
    assert flags_given(args, sections()) == {"--one-a": "v"}
