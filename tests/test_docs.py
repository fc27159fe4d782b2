"""The README and docs/ match the tree: links resolve, examples run, citations exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.base import Agent
from agent.caller_context import load_caller_context_hook, render_context
from agent.tools.registry import ToolRegistry, load_user_tools
from media import g711
from sipgw.app.settings_registry import SETTINGS

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
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in configuration, setting.env
        assert f"{setting.env}=" in example, setting.env


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

        async def transfer(self, target: str) -> bool:
            return False

        def hangup_after_reply(self) -> None: ...

        def transfer_after_reply(self, target: str) -> None: ...

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


def test_the_agent_example_beeps_and_hangs_up() -> None:
    page = ROOT / "docs" / "writing-an-agent.md"
    namespace: dict[str, object] = {}
    exec(compile(_code_block(page, "# myagent.py"), "myagent.py", "exec"), namespace)
    agent_class = namespace["BeepAgent"]
    assert isinstance(agent_class, type) and issubclass(agent_class, Agent)
    make_agent: Any = agent_class  # its constructor takes the call

    class Call:
        call_id = caller = called = ""
        hung_up = False

        def hangup(self) -> None:
            self.hung_up = True

    call = Call()
    agent = make_agent(call)
    agent.on_dtmf("5")
    frames = [agent.next_frame() for _ in range(11)]
    beep = [frame for frame in frames[:10] if frame is not None and len(frame) == 160]
    assert len(beep) == 10 and frames[10] is None
    assert g711.rms_dbfs(beep[3]) > -20  # a real tone, not silence
    agent.on_dtmf("#")
    assert call.hung_up
