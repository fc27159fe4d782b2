"""One setting's way from ``sipgw.toml`` to its use, as ``sipgw serve`` starts.

``[assistant] barge_in_commit_ms`` and a line's ``SIPGW_BARGE_IN_COMMIT_MS``: the file is
read once (its lines and tools taken from that reading), each value parsed once by its
setting, the gateway's section loaded once, and the line's section is the gateway's with the
line's typed value in place (sipgw/app/configfile/read.py, sipgw/foundation/settings/,
sipgw/app/lines/build.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.agent.assistant.agent import AssistantFactory
from sipgw.agent.capabilities import PluginFactory
from sipgw.agent.conversation.sections import AssistantSection
from sipgw.app.cli import parse, prepare
from sipgw.foundation.settings import load, setting_of
from tests.toolkit.canaries import API_KEY_VARIABLES

SETTINGS = """\
[agent]
agent = "assistant"

[network]
public_ip = "192.0.2.10"

[assistant]
barge_in_commit_ms = 500

[lines.sales]
greeting = "Acme sales!"
voice = "SALESVOICE"

[lines.sales.settings]
SIPGW_BARGE_IN_COMMIT_MS = 800

[lines.support]
greeting = "Support here."

[[routes]]
called = "100"
line = "sales"

[[http_tools]]
name = "order_status"
description = "The status of an order, by its number."
method = "GET"
url = "https://shop.example.com/orders/{number}"
[http_tools.parameters]
type = "object"
required = ["number"]
properties = { number = { type = "string" } }
"""


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``sipgw.toml`` in a clean working directory, the vendors' keys in the environment."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    for name in [*os.environ]:
        if name.startswith("SIPGW_"):
            del os.environ[name]
    os.environ.update(API_KEY_VARIABLES)
    path = tmp_path / "sipgw.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    yield path
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch, config: Path) -> list[str]:
    """Every reading of the settings file's text."""
    found: list[str] = []
    read_text = Path.read_text
    read_bytes = Path.read_bytes

    def counted(read: Callable[..., Any]) -> Callable[..., Any]:
        def reading(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self.resolve() == config.resolve():
                found.append(str(self))
            return read(self, *args, **kwargs)

        return reading

    monkeypatch.setattr(Path, "read_text", counted(read_text))
    monkeypatch.setattr(Path, "read_bytes", counted(read_bytes))
    return found


@pytest.fixture
def parses() -> Iterator[list[str]]:
    """Every text the setting's parser is given."""
    spec = setting_of(AssistantSection, "barge_in_commit_ms")
    real = spec.parse
    found: list[str] = []

    def parse(text: str) -> Any:
        found.append(text)
        return real(text)

    object.__setattr__(spec, "parse", parse)  # a frozen declaration: put back below
    try:
        yield found
    finally:
        object.__setattr__(spec, "parse", real)


def _commit_ms(factory: PluginFactory) -> int:
    assert isinstance(factory.make, AssistantFactory)
    return factory.make.resources.settings.barge_in.commit_ms


@pytest.mark.usefixtures("config")
def test_the_settings_file_is_read_once(reads: list[str]) -> None:
    startup = prepare(["serve"])
    assert startup.lines is not None and set(startup.lines.table.lines) == {"sales", "support"}
    assert reads == ["sipgw.toml"]  # not again for the lines, nor for the tools
    assert startup.lines.reload() is startup.lines.table  # a reload reads it anew, as it should
    assert reads == ["sipgw.toml", "sipgw.toml"]


@pytest.mark.usefixtures("config")
def test_each_value_is_parsed_once_and_a_lines_laid_over_the_typed_section(
    parses: list[str],
) -> None:
    startup = prepare(["serve"])
    assert parses == ["500", "800"]  # the file's, when it was read; the line's, once
    assert _commit_ms(startup.agent_factory) == 500
    assert startup.lines is not None
    lines = startup.lines.table.lines
    assert _commit_ms(lines["sales"].factory) == 800
    assert _commit_ms(lines["support"].factory) == 500
    assert load(AssistantSection, startup.sources) is load(AssistantSection, startup.sources)


@pytest.mark.usefixtures("config")
def test_config_show_and_serve_take_the_same_reading(parses: list[str]) -> None:
    sources = parse(["serve"]).sources
    found = sources.find(setting_of(AssistantSection, "barge_in_commit_ms"))
    assert (found.text, found.origin, found.env_file_line) == ("500", "file", "sipgw.toml line 8")
    assert found.written is not None and found.written.value == 500
    assert load(AssistantSection, sources).barge_in_commit_ms == 500
    assert parses == ["500"]
