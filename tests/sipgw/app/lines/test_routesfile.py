"""The routes file (sipgw/app/lines/routesfile.py): read, checked, every error on its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.app.lines.routesfile import parse_routes_file
from sipgw.foundation.settings import ConfigError

GOOD = """\
default = "support"
unknown_status = 480

[lines.sales]
agent = "assistant"
greeting = "Sales here."
prompt_file = "prompts/sales.txt"
keyterms = ["Acme", "Widget Pro"]
tools = "tools/sales.py"
caller_context = "crm.py:lookup"
recording = true
max_calls = 3
webhook_url = "https://crm.example/hooks"
webhook_secret = "s3cret"
summary = true
extract_schema = "schema.json"

[lines.sales.settings]
SIPGW_FILLER_AFTER_MS = 500
SIPGW_PREEMPTIVE = true

[lines.support]
agent = "echo"
caller_context = "crm:lookup"
caller_id = "+15550100"
account = "trunk"
amd = "leave_message"
amd_message = "Hi, this is Acme: please call us back."
ivr_goal = "reach the service desk"

[lines.support.variables]
company = "Acme"

[lines.support.headers]
X-Campaign = "spring"

[[routes]]
called = ["+15550100", "sales"]
line = "sales"

[[routes]]
account = "trunk"
source = "203.0.113.0/24"
caller = "+1555*"
line = "support"

[[routes]]
verified = ["Failed", "none"]
attestation = "c"
line = "support"
"""


def write(tmp_path: Path, text: str, name: str = "routes.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file(tmp_path: Path) -> None:
    write(tmp_path, json.dumps({"type": "object", "properties": {}}), "schema.json")
    routes = parse_routes_file(write(tmp_path, GOOD))
    assert list(routes.lines) == ["sales", "support"]
    assert routes.default == "support" and routes.unknown_status == 480
    sales = routes.lines["sales"]
    assert sales.agent == "assistant" and sales.max_calls == 3 and sales.recording is True
    assert sales.keys["greeting"].value == "Sales here."
    assert sales.keys["greeting"].where == f"{tmp_path / 'routes.toml'} line 6"
    assert sales.keys["keyterms"].value == "Acme,Widget Pro"
    assert sales.keys["prompt_file"].value == str(tmp_path / "prompts/sales.txt")
    assert sales.keys["tools"].value == str(tmp_path / "tools/sales.py")
    assert sales.keys["caller_context"].value == f"{tmp_path / 'crm.py'}:lookup"
    assert sales.settings["SIPGW_FILLER_AFTER_MS"].value == 500
    assert sales.settings["SIPGW_PREEMPTIVE"].where.endswith("line 20")
    assert sales.webhook_url == "https://crm.example/hooks" and sales.summary is True
    assert "s3cret" not in repr(sales)
    assert sales.extract_schema == {"type": "object", "properties": {}}
    support = routes.lines["support"]
    assert support.keys["caller_context"].value == "crm:lookup"  # a module name stays one
    assert support.recording is None and support.webhook_url is None and support.summary is None
    assert support.variables == {"company": "Acme"}
    assert support.defaults.caller_id == "+15550100" and support.defaults.account == "trunk"
    assert support.defaults.headers == (("X-Campaign", "spring"),)
    assert support.defaults.agent is None  # a line's calls take its own agent
    assert support.defaults.amd == AmdRequest(
        AmdMode.LEAVE_MESSAGE, "Hi, this is Acme: please call us back."
    )  # a campaign's answering-machine detection
    assert sales.variables == {} and sales.caller_id is None and sales.account is None
    assert sales.amd is None
    assert support.defaults.ivr_goal == "reach the service desk"  # docs/ivr.md
    assert sales.ivr_goal is None and sales.defaults.ivr_goal is None
    first, second, third = routes.routes
    assert (third.verified, third.attestations) == (("failed", "none"), ("C",))
    assert [p.text for p in first.called] == ["+15550100", "sales"]
    assert second.accounts == ("trunk",) and str(second.sources[0]) == "203.0.113.0/24"
    assert second.where == f"{tmp_path / 'routes.toml'} line 41"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[lines.a]\nagent = "echo"\ncolour = "red"\n[[routes]]\nline="a"\n',
            r"line 3: line 'a': unknown key 'colour'",
        ),
        (
            '[lines.a]\nmax_calls = "2"\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': max_calls must be a whole number",
        ),
        ('[lines.a]\nmax_calls = -1\n[[routes]]\nline="a"\n', r"line 2: .*0 \(no limit\) or more"),
        (
            '[lines.a]\ntls_peer_names = "sbc"\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': tls_peer_names must be a list of host names",
        ),
        (
            '[lines.a]\ntls_peer_names = ["sbc one"]\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': tls_peer_names: 'sbc one' is not a host name",
        ),
        ('[lines.a]\nrecording = "yes"\n[[routes]]\nline="a"\n', r"line 2: .*true or false"),
        ('[lines.a]\nwebhook_url = "ftp://x"\n[[routes]]\nline="a"\n', r"line 2: .*http\(s\)"),
        ('[lines.a]\nkeyterms = [1]\n[[routes]]\nline="a"\n', r"line 2: .*list of strings"),
        (
            '[lines.a]\n[lines.a.settings]\nX = [1]\n[[routes]]\nline="a"\n',
            r"line 3: X must be a string, number or true/false",
        ),
        ('[lines.a]\n[[routes]]\nline = "b"\n', r"line 3: route 1: line 'b' is not a \[lines"),
        ('[lines.a]\n[[routes]]\ncalled = "+1"\n', r"line 2: route 1: line is missing"),
        (
            '[lines.a]\n[[routes]]\nline="a"\n[[routes]]\nline="a"\nsource = "10.0.0.300"\n',
            r"line 6: route 2: source '10.0.0.300' is not an IP address",
        ),
        (
            '[lines.a]\n[[routes]]\nline="a"\ncalled = "+1[x]"\n',
            r"line 4: route 1: called '\+1\[x\]': .*digit set",
        ),
        ('[lines.a]\n[[routes]]\nline="a"\nhost = "x"\n', r"line 4: route 1: unknown key 'host'"),
        (
            '[lines.a]\n[[routes]]\nline="a"\nverified = "yes"\n',
            r"line 4: route 1: verified 'yes' is not one of passed, failed, none",
        ),
        (
            '[lines.a]\n[[routes]]\nline="a"\nattestation = ["A", "D"]\n',
            r"line 4: route 1: attestation 'D' is not one of A, B, C",
        ),
        ('default = "b"\n[lines.a]\n', r"line 1: default 'b' is not a \[lines"),
        ('unknown_status = 200\ndefault = "a"\n[lines.a]\n', r"line 1: unknown_status must be"),
        ("[lines.a]\n", r"no \[\[routes\]\] and no default"),
        ("colour = 1\n[lines.a]\n", r"line 1: unknown key 'colour'"),
        ('default = "a"\n', r"no \[lines.NAME\] table"),
        (
            '[lines.a]\nextract_schema = "none.json"\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': extract_schema .*none.json",
        ),
        (
            '[lines.a]\n[lines.a.variables]\n"1st" = "x"\n[[routes]]\nline="a"\n',
            r"line 1: line 'a': variables: variable name '1st' must be",
        ),
        (
            '[lines.a]\n[lines.a.headers]\nVia = "evil"\n[[routes]]\nline="a"\n',
            r"line 1: line 'a': headers: .*Via",
        ),
        (
            '[lines.a]\nvariables = [1]\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': variables must be a table of strings",
        ),
        (
            '[lines.a]\ncaller_id = 5\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': caller_id must be a string",
        ),
        (
            '[lines.a]\namd = "maybe"\n[[routes]]\nline="a"\n',
            r"line 2: line 'a': \"amd\" must be one of off, detect, leave_message, hang_up",
        ),
    ],
)
def test_mistakes_are_named_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_routes_file(write(tmp_path, text))


def test_an_extraction_schema_must_describe_an_object(tmp_path: Path) -> None:
    write(tmp_path, '{"type": "string"}', "schema.json")
    text = '[lines.a]\nextract_schema = "schema.json"\n[[routes]]\nline="a"\n'
    with pytest.raises(ConfigError, match=r"line 2: .*a JSON schema of an object"):
        parse_routes_file(write(tmp_path, text))
    write(tmp_path, "{nope", "schema.json")
    with pytest.raises(ConfigError, match=r"line 2: .*not JSON"):
        parse_routes_file(write(tmp_path, text))


def test_a_line_says_whether_its_calls_listen_for_key_tones(tmp_path: Path) -> None:
    text = '[lines.a]\ninband_dtmf = "ON"\n[lines.b]\n[[routes]]\nline = "a"\n'
    lines = parse_routes_file(write(tmp_path, text)).lines
    assert lines["a"].inband_dtmf == "on" and lines["b"].inband_dtmf is None
    bad = '[lines.a]\ninband_dtmf = "yes"\n[[routes]]\nline = "a"\n'
    with pytest.raises(ConfigError, match=r"line 2: .*inband_dtmf must be one of auto, on, off"):
        parse_routes_file(write(tmp_path, bad))


def test_every_mistake_of_a_table_in_the_files_order(tmp_path: Path) -> None:
    """Issue 67: the first mistake of a line stopped its table (``numbers = [...]`` hid
    ``agent = "assistent"``). Each table's mistakes are all named, in the file's order."""
    from sipgw.foundation.settings import ConfigMistakes

    text = (
        '[lines.a]\nsummary = "yes"\nagent = "assistent"\nnumbers = 1\nhand_off_to = "a"\n'
        'hand_off_history = "all"\n[lines.a.variables]\n"1st" = "x"\n'
        '[[routes]]\nattestation = "D"\ncalled = "+1[x]"\n'
    )
    with pytest.raises(ConfigMistakes) as raised:
        parse_routes_file(write(tmp_path, text))
    label = f"{tmp_path / 'routes.toml'}"
    assert [m.removeprefix(label).split(":")[0] for m in raised.value.messages] == [
        " line 1",
        *(f" line {n}" for n in (2, 3, 4, 5, 6)),
        " line 9",
        " line 10",
        " line 11",
    ], raised.value.messages
    assert "variables: variable name '1st'" in raised.value.messages[0]
    assert "route 1: line is missing" in raised.value.messages[6]
