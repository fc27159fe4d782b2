"""``sipgw config check`` (sipgw/app/configfile/check.py): every mistake, each named by its
file, line and key; then what start-up builds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipgw.app.configfile.check import check

pytestmark = pytest.mark.usefixtures("environ")

LINES = """\
[lines.sales]
agent = "echo"

[lines.support]
agent = "echo"
max_calls = "four"

[[routes]]
line = "sales"
"""


def checked(tmp_path: Path, text: str, *argv: str) -> list[str]:
    (tmp_path / "sipgw.toml").write_text(text)
    return check(["serve", *argv]).errors


def test_a_good_file_has_no_mistake(tmp_path: Path) -> None:
    found = check(["serve"])  # no file at all: the environment only
    assert found.errors == [] and found.file == ""
    (tmp_path / "sipgw.toml").write_text(
        '[network]\nsip_port = 5070\nbind = "127.0.0.1"\n\n'
        + LINES.replace('max_calls = "four"', "max_calls = 4")
    )
    found = check(["serve"])
    assert found.errors == []
    assert (found.file, found.settings, found.lines) == ("sipgw.toml", 2, 2)


def test_an_unknown_key_a_wrong_type_and_a_bad_value_in_a_line(tmp_path: Path) -> None:
    errors = checked(
        tmp_path,
        "[network]\nsip_prot = 5070\n\n[calls]\nmax_calls = true\n\n" + LINES,
    )
    assert errors[0].startswith(
        "sipgw.toml line 2: network.sip_prot: unknown key (did you mean sip_port?)"
    )
    assert errors[1] == "sipgw.toml line 5: calls.max_calls: must be a number, not true or false"
    assert errors[2] == "sipgw.toml line 12: line 'support': max_calls must be a whole number"
    assert len(errors) == 3


def test_every_table_is_checked_whatever_the_agent(tmp_path: Path) -> None:
    """The assistant's and a vendor's tables are checked with the echo agent too."""
    errors = checked(
        tmp_path,
        '[agent]\nagent = "echo"\n\n[openai]\nfirst_token_timeout = "soon"\n\n'
        '[assemblyai]\napi_key = "k"\n',
    )
    assert [e.split(":", 1)[0] for e in errors] == ["sipgw.toml line 5", "sipgw.toml line 8"]
    assert "openai.first_token_timeout = 'soon': must be" in errors[0]
    assert "assemblyai.api_key is a secret" in errors[1]


def test_the_environment_and_the_rules_between_values(tmp_path: Path) -> None:
    os.environ["SIPGW_RTP_PORTS"] = "20000"
    errors = checked(tmp_path, "[calls]\njitter_min_ms = 400\njitter_max_ms = 300\n")
    assert errors[0].startswith("SIPGW_RTP_PORTS=20000: must be LO-HI")
    assert errors[1] == (
        "calls.jitter_min_ms = 400 (sipgw.toml line 2) must not exceed calls.jitter_max_ms = 300 "
        "(sipgw.toml line 3)"
    )


def test_tools_are_named_by_their_table(tmp_path: Path) -> None:
    errors = checked(
        tmp_path,
        '[[http_tools]]\nname = "a"\ndescription = "A."\nurl = "https://a.example/"\n\n'
        '[[http_tools]]\nname = "b"\nurl = "https://b.example/"\nmethod = "FETCH"\n',
    )
    assert len(errors) == 1 and errors[0].startswith("sipgw.toml line 6: http_tools[2]"), errors


def test_what_start_up_builds_is_checked_last(tmp_path: Path) -> None:
    for key in ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"):
        os.environ.pop(key, None)
    errors = checked(tmp_path, '[agent]\nagent = "assistant"\n[access]\nallow_from = "any"\n')
    assert len(errors) == 1 and "ASSEMBLYAI_API_KEY" in errors[0], errors


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    errors = checked(tmp_path, "[network]\nsip_port = \n")
    assert errors == [errors[0]] and errors[0].startswith("sipgw.toml line 2: not valid TOML")


def test_a_lines_settings_may_not_hold_a_secret(tmp_path: Path) -> None:
    for key in ("ASSEMBLYAI_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY"):
        os.environ[key] = "k"
    errors = checked(
        tmp_path,
        '[agent]\nagent = "assistant"\n[access]\nallow_from = "any"\n\n'
        '[lines.a]\nagent = "assistant"\n[lines.a.settings]\nSIPGW_FILLER_AFTER_MS = 500\n'
        'OPENAI_API_KEY = "sk-in-the-file"\n[[routes]]\nline = "a"\n',
    )
    assert errors == [
        "sipgw.toml line 10: lines.a.settings.OPENAI_API_KEY is a secret: set OPENAI_API_KEY "
        "in the environment or in .env, never in this file"
    ]


def test_every_line_and_route_is_checked_in_one_run(tmp_path: Path) -> None:
    """A mistake in one line does not hide the next line's, nor a route's."""
    errors = checked(
        tmp_path,
        "unknown_status = 200\n\n"
        '[lines.sales]\nagent = "echo"\nmax_calls = "four"\n\n'
        '[lines.support]\nagent = "echo"\ncodecs = 7\n\n'
        '[[routes]]\nline = "sales"\n\n'
        '[[routes]]\nline = "salse"\n',
    )
    assert [e.split(":", 1)[0] for e in errors] == [
        "sipgw.toml line 5",
        "sipgw.toml line 9",
        "sipgw.toml line 15",
        "sipgw.toml line 1",
    ], errors
    assert "line 'salse' is not a [lines.NAME] table" in errors[2]
    assert "unknown_status must be one of" in errors[3]


def test_every_mistake_of_a_table_is_named_on_its_keys_line(tmp_path: Path) -> None:
    """Issue 67: a line with an unknown key (``numbers = [...]``) and ``agent =
    "assistent"`` was reported for the key only; the first mistake stopped its table.
    Now every mistake of a line or a route is named, each on the line of its key."""
    errors = checked(
        tmp_path,
        'default = "sales"\n\n'
        '[lines.sales]\nnumbers = ["+15550100"]\nagent = "assistent"\nmax_calls = "four"\n'
        'webhook_url = "ftp://crm"\nhand_off_to = "nowhere"\n\n'
        "[lines.sales.settings]\nX = [1]\nY = {a = 1}\n\n"
        '[[routes]]\nline = "sales"\nhost = "x"\nsource = "10.0.0.300"\nverified = "yes"\n',
    )
    assert [e.split(": line 'sales': ")[0] for e in errors[:5]] == [
        f"sipgw.toml line {n}" for n in (4, 5, 6, 7, 8)
    ], errors
    assert "unknown key 'numbers'" in errors[0]
    assert "agent 'assistent' must be echo, assistant, " in errors[1]
    assert "max_calls must be a whole number" in errors[2]
    assert "webhook_url must be an http(s):// URL" in errors[3]
    assert "hand_off_to 'nowhere' is not a [lines.NAME] table" in errors[4]
    assert errors[5:7] == [
        "sipgw.toml line 11: X must be a string, number or true/false",
        "sipgw.toml line 12: Y must be a string, number or true/false",
    ]
    assert [e.split(": route 1: ")[0] for e in errors[7:]] == [
        f"sipgw.toml line {n}" for n in (16, 17, 18)
    ], errors
    assert "unknown key 'host'" in errors[7] and "source '10.0.0.300'" in errors[8]
    assert "verified 'yes' is not one of" in errors[9]
    assert len(errors) == 10, errors


def test_every_mistake_of_an_accounts_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "[accounts.office]\naor = 'sip:1001@pbx.example.com'\nnumbers = ['+15550100']\n"
        "agent = 'assistent'\n\n[accounts.trunk]\nexpires = 'long'\n"
    )
    monkeypatch.setenv("SIPGW_ACCOUNTS", str(accounts))
    errors = checked(tmp_path, '[network]\nbind = "127.0.0.1"\n')
    assert [e.split(": account ")[0] for e in errors] == [
        f"{accounts} line {n}" for n in (3, 4, 6, 7)
    ], errors
    assert "unknown key 'numbers'" in errors[0] and "agent 'assistent'" in errors[1]
    assert errors[2].endswith("'trunk': aor is missing")
    assert errors[3].endswith("'trunk': expires must be a number")
