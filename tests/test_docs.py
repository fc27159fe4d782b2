"""The README and docs/ match the tree: links resolve, examples run, citations exist."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import itertools
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.amd.settings import AmdCall, AmdMode, AmdRequest
from sipgw.agent.base import Agent, CallControl
from sipgw.agent.conversation.caller_context import load_caller_context_hook, render_context
from sipgw.agent.tools.registry import ToolRegistry, load_user_tools
from sipgw.app.admin.server import AdminServer
from sipgw.app.admin.settings import AdminSettings
from sipgw.app.agents import find_agent
from sipgw.app.cli import build_parser
from sipgw.app.evaluation.audio import dominant_tone
from sipgw.app.evaluation.gateway_process import OVERLOAD_OFF, GatewayProcess
from sipgw.app.evaluation.ports import free_port_range
from sipgw.app.evaluation.process import child_env
from sipgw.app.gateway import Gateway
from sipgw.app.sections import SECTIONS
from sipgw.app.webhooks.delivery import DeliveryPolicy
from sipgw.app.webhooks.signing import WebhookSecret, signed_headers
from sipgw.foundation.settings import ConfigError, Sources
from sipgw.media import g711
from sipgw.sip.call import CallState
from tests.toolkit.gateway_in_process import TEST_AGENT_ENV, running_gateway
from tests.toolkit.webhook_receiver import ExampleReceiver

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CITATION = re.compile(r'docs/cloud-apis\.md,\s+"([^"]+)"')


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {
        _anchor(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")
    }


def _code_block(page: Path, first_line: str) -> str:
    text = page.read_text()
    start = text.index(f"```python\n{first_line}\n")
    return text[start + len("```python\n") :].split("```", 1)[0]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: broken link {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: no heading for {target}"


def test_readme_is_a_page() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_setting_is_documented() -> None:
    """Every setting in the reference; every secret in ``.env.example`` too (where it goes)."""
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for setting in (spec for info in SECTIONS for _, spec in info.settings):
        assert f"`{setting.env}`" in configuration, setting.env
        assert not setting.secret or f"{setting.env}=" in example, setting.env


def test_cloud_api_citations_name_sections_that_exist() -> None:
    sections = {
        line.lstrip("#").strip()
        for line in (ROOT / "docs" / "cloud-apis.md").read_text().splitlines()
        if line.startswith("#")
    }
    cited: set[str] = set()
    for source in [
        *ROOT.glob("agent/**/*.py"),
        *ROOT.glob("sipgw/**/*.py"),
        *ROOT.glob("media/**/*.py"),
    ]:
        # Join comment and docstring lines so that a citation may wrap.
        text = re.sub(r"\n\s*#?\s*", " ", source.read_text())
        for title in CITATION.findall(text):
            assert title in sections, (
                f"{source.relative_to(ROOT)} cites a missing section {title!r}"
            )
            cited.add(title)
    assert {
        "AssemblyAI streaming v3",
        "OpenAI streamed tool calls",
        "Twilio Media Streams",
    } <= cited


async def test_the_tool_example_loads_and_runs(tmp_path: Path) -> None:
    page = ROOT / "docs" / "writing-an-agent.md"
    module = tmp_path / "mytools.py"
    module.write_text(_code_block(page, "# mytools.py"))
    registry = ToolRegistry()
    load_user_tools(str(module), registry)

    class Context:
        call_id = "c"
        caller = "sip:x@y"
        settings = None

        async def transfer(self, target: str, summary: str = "") -> bool:
            return False

        def hangup_after_reply(self) -> None: ...

        def transfer_after_reply(self, target: str, summary: str = "") -> None: ...

    result = await registry.call("opening_hours", "{}", Context())  # type: ignore[arg-type]
    assert result.ok and "9 am" in result.content


async def test_the_caller_context_example_loads_and_runs(tmp_path: Path) -> None:
    module = tmp_path / "crm_context.py"
    module.write_text(_code_block(ROOT / "docs" / "assistant.md", "# crm_context.py"))
    hook = load_caller_context_hook(f"{module}:lookup")
    assert render_context(await hook("+15551234567", "+18005550100")) == (
        "Name: Ada Lovelace\nOpen orders: 1234 (shipped)"
    )
    assert await hook("+4930000", "+18005550100") is None


class _Call:
    call_id = caller = called = ""
    hung_up = False

    def hangup(self) -> None:
        self.hung_up = True


def _agent_module(tmp_path: Path) -> str:
    """The page's ``myagent.py``, written to ``tmp_path``; returns its path."""
    module = tmp_path / "myagent.py"
    module.write_text(_code_block(ROOT / "docs" / "writing-an-agent.md", "# myagent.py"))
    return str(module)


def test_the_agent_example_is_a_plug_in_that_beeps_and_hangs_up(tmp_path: Path) -> None:
    plugin = find_agent(f"{_agent_module(tmp_path)}:make")
    (section,) = plugin.sections
    assert section.title == "Beep agent" and [n for n, _ in section.settings] == ["hz", "ms"]
    help_text = " ".join(_serve_help(plugin).split())
    assert "--beep-hz HZ The beep's pitch. [env BEEP_HZ, default 440]" in help_text
    with pytest.raises(ConfigError, match="^--beep-hz 5: must be a whole number from 100 to 3000"):
        plugin.build(Sources({}, {"--beep-hz": "5"}))
    factory = plugin.build(Sources({"BEEP_HZ": "500"}, {"--beep-ms": "100"}))
    call = _Call()
    agent: Any = factory(call)  # type: ignore[arg-type]
    assert isinstance(agent, Agent)
    agent.on_dtmf("5")
    frames = [agent.next_frame() for _ in range(6)]
    beep = [frame for frame in frames[:5] if frame is not None and len(frame) == 160]
    assert len(beep) == 5 and frames[5] is None  # 100 ms
    assert g711.rms_dbfs(beep[3]) > -20 and dominant_tone(beep[3], (440, 500)) == 500
    agent.on_dtmf("#")
    assert call.hung_up


def _serve_help(plugin: Any) -> str:
    parser = build_parser(plugin)
    with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:
        parser.parse_args(["serve", "--help"])
    return out.getvalue()


async def test_the_embedding_example_places_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``embed.py``: a gateway in your program answers with beeps and places a call, here to
    a second gateway (the echo agent) that hangs up after a second."""
    _agent_module(tmp_path)
    (tmp_path / "embed.py").write_text(
        _code_block(ROOT / "docs" / "writing-an-agent.md", "# embed.py")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        embed = importlib.import_module("embed")
        async with running_gateway(max_call_seconds=1.0) as (callee, _):
            port = callee.sip.listening[0][2]
            described = await asyncio.wait_for(
                embed.call_once(f"sip:echo@127.0.0.1:{port}", 0, tuple(free_port_range(8))), 20
            )
    finally:
        for name in ("embed", "myagent"):
            sys.modules.pop(name, None)
    assert re.fullmatch(r"answered, \d+\.\d s, ended by remote-bye", described), described


def test_the_example_webhook_receiver_checks_signatures(tmp_path: Path) -> None:
    """docs/webhooks.md's receiver.py, run as a reader would: our signed events pass,
    a changed body, a wrong secret and an old timestamp get 401, a retry is marked."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    key = WebhookSecret.parse(secret)
    body = b'{"type":"call.answered","data":{"sequence":2}}'

    def post(headers: dict[str, str], data: bytes = body) -> int:
        request = urllib.request.Request(receiver.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    with ExampleReceiver(tmp_path, secret) as receiver:
        now = int(time.time())
        good = signed_headers(key, "msg_1", now, body)
        assert post(good) == 204
        assert post(good) == 204  # the same event again: answered, not handled twice
        assert post(good, body.replace(b"2", b"3")) == 401
        other = WebhookSecret.parse("another secret of enough bytes")
        assert post(signed_headers(other, "msg_2", now, body)) == 401
        assert post(signed_headers(key, "msg_3", now - 600, body)) == 401  # a replay
        assert post({"content-type": "application/json"}) == 401
        lines = receiver.wait_for(2, 5)
    assert [(line["id"], line["repeat"]) for line in lines] == [("msg_1", False), ("msg_1", True)]
    assert lines[0]["event"]["data"]["sequence"] == 2


def test_the_example_webhook_receiver_keeps_concurrent_deliveries_apart(tmp_path: Path) -> None:
    """The gateway posts up to 8 events at once (twice that here) and the receiver handles
    each in a thread of its own, its queue of connections long enough for them: every one is
    answered and printed as a line of its own (two prints at once used to share a
    line, and the test reading them lost the rest), and one event posted twice at once is
    handled once."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    key = WebhookSecret.parse(secret)
    filler = "x" * 6000  # long lines: a shared one is likelier when prints overlap

    def post(msg_id: str) -> int:
        body = json.dumps({"type": "call.ended", "data": {"id": msg_id, "notes": filler}})
        headers = signed_headers(key, msg_id, int(time.time()), body.encode())
        request = urllib.request.Request(
            receiver.url, data=body.encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)

    ids = [f"msg_{n}" for n in range(60)] + ["msg_twice"] * 4
    with ExampleReceiver(tmp_path, secret) as receiver:
        with ThreadPoolExecutor(max_workers=2 * DeliveryPolicy().concurrency) as pool:
            assert set(pool.map(post, ids)) == {204}
        lines = receiver.wait_for(len(ids), 10)
        assert receiver.unreadable == []
    assert sorted(line["id"] for line in lines) == sorted(ids)
    twice = [line["repeat"] for line in lines if line["id"] == "msg_twice"]
    assert sorted(twice) == [False, True, True, True]  # handled once


REMINDERS = "# reminders.py: one call per row of a CSV, through a running sipgw's admin API."


async def test_the_reminders_recipe_paces_its_calls_and_passes_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reminders.py`` of outbound.md against a gateway with its admin API: one call per
    row with the row's variables and the campaign's ``--amd``, at most ``--concurrency`` at
    once and ``--per-second`` started a second; a row that cannot be called is reported and
    makes the exit status 1."""
    (tmp_path / "reminders.py").write_text(_code_block(ROOT / "docs" / "outbound.md", REMINDERS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SIPGW_ADMIN_TOKEN", "reminder-admin-token")
    echo = find_agent("echo").build(Sources(dict(TEST_AGENT_ENV)))
    variables: list[dict[str, str]] = []
    answered: list[float] = []

    detection: list[AmdRequest | None] = []

    def calling(call: CallControl) -> Agent:
        variables.append(dict(call.details.variables))
        detection.append(call.amd if isinstance(call, AmdCall) else None)
        return echo(call)

    def answering(call: CallControl) -> Agent:
        answered.append(asyncio.get_running_loop().time())
        return echo(call)

    most = 0

    async def count_calls(gateway: Gateway) -> None:
        nonlocal most
        while True:
            live = [h for h in gateway.handles.values() if h.call.state is CallState.CONFIRMED]
            most = max(most, len(live))
            await asyncio.sleep(0.01)

    try:
        reminders = importlib.import_module("reminders")
        async with (
            running_gateway(answering, max_call_seconds=1.0) as (callee, _),
            running_gateway(calling) as (gateway, _),
        ):
            server = AdminServer(gateway, AdminSettings(port=0, token="reminder-admin-token"))
            await server.start()
            counting = asyncio.create_task(count_calls(gateway))
            target = f"sip:echo@127.0.0.1:{callee.ua.config.sip_port}"
            rows = [f"{target},Ada{i},Tuesday {i} pm" for i in range(4)]
            csv = tmp_path / "appointments.csv"
            csv.write_text("\n".join(["phone,first_name,appointment", *rows, "not a phone,Bo,x"]))
            try:
                status = await asyncio.wait_for(
                    reminders.main(
                        [str(csv), "--admin-url", server.url, "--concurrency", "2",
                         "--per-second", "2", "--amd", "leave_message"]
                    ),
                    60,
                )  # fmt: skip
            finally:
                counting.cancel()
                await server.stop()
    finally:
        sys.modules.pop("reminders", None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [f"{target}: answered"] * 4, lines
    assert lines[4] == "not a phone: failed (not a SIP URI)", lines
    assert status == 1
    assert sorted(v["first_name"] for v in variables) == ["Ada0", "Ada1", "Ada2", "Ada3"]
    assert {"first_name": "Ada2", "appointment": "Tuesday 2 pm"} in variables
    assert detection == [AmdRequest(AmdMode.LEAVE_MESSAGE)] * 4  # the campaign's, every call
    assert most == 2  # --concurrency 2: two at once, never three
    gaps = [b - a for a, b in itertools.pairwise(sorted(answered))]
    assert len(answered) == 4 and min(gaps) > 0.25, gaps  # --per-second 2: 0.5 s apart


def test_the_readme_smoke_test_calls_the_echo_line(tmp_path: Path) -> None:
    """README's one-line check, against a gateway started as in the Quickstart (on a free
    port instead of 5060): ``sipgw call`` from its own process, beside the running gateway,
    prints what the README says."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^\.venv/bin/sipgw (call sip:echo@127\.0\.0\.1 .*)$", readme, re.M)
    said = re.search(r"prints `(sip:echo@127\.0\.0\.1: answered, [^`]*)`", readme)
    assert command and said, "README's smoke test moved"
    with GatewayProcess(tmp_path, extra_args=OVERLOAD_OFF) as gateway:
        argv = command[1].replace("127.0.0.1", f"127.0.0.1:{gateway.sip_port}", 1).split()
        result = subprocess.run(
            [sys.executable, "-m", "sipgw", *argv, *OVERLOAD_OFF], cwd=tmp_path,
            env=child_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    expected = said[1].replace("127.0.0.1", f"127.0.0.1:{gateway.sip_port}", 1)
    expected = re.escape(expected).replace(r"3\.0", r"3\.\d")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(expected, result.stdout), result.stdout + result.stderr


def _toml_block(page: Path, first_line: str) -> str:
    text = page.read_text()
    start = text.index(f"```toml\n{first_line}")
    return text[start + len("```toml\n") :].split("```", 1)[0]


def test_the_declared_tools_examples_are_what_the_gateway_reads(tmp_path: Path) -> None:
    import tomllib

    from sipgw.agent.tools.declared import parse_declarations
    from sipgw.app.lines.routesfile import parse_routes_file

    tools = tomllib.loads(_toml_block(ROOT / "docs" / "assistant.md", "# tools.toml"))
    env = {"BILLING_TOKEN": "b", "CRM_MCP_TOKEN": "c"}
    found = parse_declarations(tools, "tools.toml", env)
    assert [t.name for t in found.http_tools] == ["invoice_status"]
    assert [s.name for s in found.mcp_servers] == ["time", "crm"]
    routes = tmp_path / "routes.toml"
    routes.write_text(_toml_block(ROOT / "docs" / "lines.md", "# routes.toml (the billing"))
    line = parse_routes_file(routes).lines["billing"]
    assert line.declared_tools is not None and "invoice_status" in str(line.declared_tools.value)


def _declared() -> dict[str, Any]:
    """Every setting's declaration, by its variable."""
    return {spec.env: spec for info in SECTIONS for _, spec in info.settings}


def test_a_table_of_a_settings_values_marks_its_declared_default() -> None:
    """Issue 67: docs/assistant.md's table of ``SIPGW_EARLY_TURN_END`` marked ``off`` as the
    default while the declaration's is ``words``. A table whose first header cell is a
    setting (``| `SIPGW_SRTP` | ...``) marks, with ``(default)``, the declared default; so
    does a row ``| `SIPGW_REDACT=cards` (default) |``."""
    declared = _declared()
    marked: dict[str, str] = {}
    for page in PAGES:
        setting = ""
        for line in page.read_text().splitlines():
            if not line.startswith("|"):
                setting = ""
                continue
            header = re.match(r"\| `(SIPGW_\w+)` \|", line)
            if header and header[1] in declared:
                setting = header[1]
            row = re.match(r"\| `(?:(SIPGW_\w+)=)?([^`]*)` \(default\) \|", line)
            if row is None or not (row[1] or setting):
                continue
            name = row[1] or setting
            marked[f"{page.name} {name}"] = row[2]
            assert row[2] == declared[name].default_text, f"{page.name}: {line[:80]}"
    assert {"assistant.md SIPGW_EARLY_TURN_END", "srtp.md SIPGW_SRTP"} <= marked.keys(), marked


def test_the_call_record_is_named_by_its_own_directory() -> None:
    """Issue 67: docs/ivr.md said the call record is written under ``SIPGW_RECORD_DIR``
    (the WAV recordings'); a ``call record (`SIPGW_...`)`` names a setting of the JSONL
    records (``SIPGW_CALL_RECORD_DIR``, the twiml agent's ``SIPGW_TWIML_RECORD_DIR``)."""
    declared = _declared()
    named = []
    for page in PAGES:
        text = page.read_text()
        for name in re.findall(r"\brecords?\**\s*\(`(SIPGW_\w+)`", text, re.IGNORECASE):
            named.append(name)
            assert "JSONL" in declared[name].help, f"{page.name}: the call record in {name}"
    assert "SIPGW_CALL_RECORD_DIR" in named
