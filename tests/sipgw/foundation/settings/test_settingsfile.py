"""The settings file's sections (foundation/settings/settingsfile.py): values as the parsers read
them, secrets refused, every mistake named by its line and key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import pytest

from sipgw.foundation.settings import SectionInfo, Sources, load, section, section_info, setting
from sipgw.foundation.settings.parsers import comma_list, on_off, port, text, true_false
from sipgw.foundation.settings.settingsfile import file_values
from sipgw.foundation.settings.tomlfile import TomlDocument


@section("demo", title="Demo", intro="For the tests.")
@dataclass(frozen=True)
class DemoSection:
    port: int = setting(5060, env="DEMO_PORT", parse=port, help="A port.")
    name: str = setting("", env="DEMO_NAME", parse=text, help="A name.")
    loud: bool = setting(
        False, env="DEMO_LOUD", parse=on_off, default_text="off", help="On or off."
    )
    fast: bool = setting(
        False, env="DEMO_FAST", parse=true_false, default_text="false", help="True or false."
    )
    items: tuple[str, ...] = setting(
        (), env="DEMO_ITEMS", parse=comma_list, default_text="", help="Several."
    )
    lines: tuple[str, ...] = setting(
        (),
        env="DEMO_LINES",
        default_text="",
        help="Items that may hold commas.",
        parse=lambda v: tuple(i.strip() for i in v.split("|") if i.strip()),
    )
    key: str = setting("", env="DEMO_KEY", parse=text, secret=True, help="A secret.")


def _demo() -> SectionInfo:
    info = section_info(DemoSection)
    assert info is not None
    return info


DEMO = _demo()


def document(source: str) -> TomlDocument:
    return TomlDocument("sipgw.toml", tomllib.loads(source), tuple(source.splitlines()))


def test_values_are_read_as_the_environment_would_give_them() -> None:
    found = file_values(
        document(
            '[demo]\nport = 5070\nname = "Acme"\nloud = true\nfast = true\n'
            'items = ["a", "b"]\nlines = ["Hi, there.", "One moment."]\n'
        ),
        [DEMO],
    )
    assert found.errors == ()
    texts = {variable: value.text for variable, value in found.values.items()}
    assert texts == {
        "DEMO_PORT": "5070",
        "DEMO_NAME": "Acme",
        "DEMO_LOUD": "on",
        "DEMO_FAST": "true",
        "DEMO_ITEMS": "a,b",
        "DEMO_LINES": "Hi, there.|One moment.",
    }
    assert found.values["DEMO_PORT"].where == "sipgw.toml line 2"
    assert found.values["DEMO_PORT"].key == "demo.port"
    loaded = load(DemoSection, Sources(file=found.values))
    assert loaded == DemoSection(
        5070, "Acme", True, True, ("a", "b"), ("Hi, there.", "One moment.")
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('[demo]\nkey = "s3cret"\n', "sipgw.toml line 2: demo.key is a secret: set DEMO_KEY "
         "in the environment or in .env, never in this file"),
        ("[demo]\nprot = 1\n", "sipgw.toml line 2: demo.prot: unknown key (did you mean port?)"),
        ("[demo]\nport = true\n", "sipgw.toml line 2: demo.port: must be a number, not true "
         "or false"),
        ("[demo]\nport = [5060]\n", "sipgw.toml line 2: demo.port: takes one value, not a list"),
        ("[demo]\nport = { a = 1 }\n", "sipgw.toml line 2: demo.port: must be a value, not a "
         "table"),
        ('[demo]\n\nport = "abc"\n', "sipgw.toml line 3: demo.port = 'abc': must be a port "
         "number 0..65535"),
        ('[demo]\nloud = "maybe"\n', "sipgw.toml line 2: demo.loud = 'maybe': must be 'on' or "
         "'off'"),
        ("[dmeo]\nport = 1\n", "sipgw.toml line 1: [dmeo] is not a section (did you mean demo?)"),
        ("demo = 1\n", "sipgw.toml line 1: demo must be a table ([demo])"),
    ],
)  # fmt: skip
def test_each_mistake_names_the_line_and_the_key(source: str, message: str) -> None:
    found = file_values(document(source), [DEMO])
    assert len(found.errors) == 1
    assert found.errors[0].startswith(message), found.errors[0]
    assert found.values == {}


def test_every_mistake_is_named_and_the_good_values_kept() -> None:
    found = file_values(document('[demo]\nport = "x"\nname = "ok"\nkey = "k"\n'), [DEMO])
    assert [e.split(":")[0] for e in found.errors] == ["sipgw.toml line 2", "sipgw.toml line 4"]
    assert set(found.values) == {"DEMO_NAME"}


def test_other_keys_are_left_to_their_readers() -> None:
    found = file_values(
        document('default = "x"\n[lines.a]\nagent = "echo"\n'), [DEMO], {"default", "lines"}
    )
    assert found.errors == () and found.values == {}
