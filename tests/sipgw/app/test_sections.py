"""The catalogue of sections: every setting well formed, unique, parsed with useful messages."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.agent.services.registry import LLM_VENDORS, STT_VENDORS, TTS_VENDORS
from sipgw.app.sections import CALL_ONLY, SECTIONS, check_names
from sipgw.foundation.settings import ConfigError, Setting, section, section_info, setting
from sipgw.foundation.settings.parsers import text

SETTINGS: list[tuple[str, Setting[Any]]] = [
    (f"{info.cls.__name__}.{name}", spec) for info in SECTIONS for name, spec in info.settings
]
PYTHONS_WORDS = re.compile(
    r"invalid literal|could not convert|does not appear to be|base 10|NoneType|object has no|"
    r"unhashable|Traceback|not supported between"
)
"""What Python's own exception messages say, and ours never do."""


def test_names_and_flags_are_unique_and_help_is_a_sentence() -> None:
    envs = [spec.env for _, spec in SETTINGS]
    flags = [spec.flag for _, spec in SETTINGS if spec.flag]
    assert len(envs) == len(set(envs)) > 200  # unique, and every section is there
    assert len(flags) == len(set(flags))
    assert len({info.name for info in SECTIONS}) == len(SECTIONS)
    for where, spec in SETTINGS:
        assert spec.help.endswith(".") and spec.help == spec.help.strip(), where
        assert spec.default_text == spec.default_text.strip(), where
        assert (spec.flag is None) == (spec.metavar is None), where


def test_a_section_has_flags_for_all_its_settings_or_for_none() -> None:
    env_only = {info.name for info in SECTIONS if not info.flagged}
    registered = {
        v.section for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS) for v in table.values()
    }
    vendors = {info.name for info in SECTIONS if info.cls in registered}  # whatever it lists
    assert {"assemblyai", "openai", "elevenlabs"} <= vendors
    assert env_only - vendors == {
        "assistant", "preemptive", "tools", "caller_context", "callbacks", "dial", "fallback",
        "voice_agent", "realtime", "breakers", "healthcheck", "webhooks", "summary", "amd",
        "transfers", "declared_tools", "idle", "twiml", "stream", "twilio_app", "cluster",
        "campaigns", "s2s", "srs",
    }  # fmt: skip
    for info in SECTIONS:
        assert len({spec.flag is None for _, spec in info.settings}) == 1, info.name


def test_the_options_a_newcomer_needs_come_first() -> None:
    first = [spec.flag for _, spec in SETTINGS if spec.first]
    assert first == [
        "--agent", "--public-ip", "--sip-port", "--register", "--auth-password", "--admin-url",
        "--allow-from", "--admin-port",
    ]  # fmt: skip
    assert [info.name for info in CALL_ONLY] == ["call-command"]  # --admin-url: call only


@pytest.mark.parametrize(("where", "spec"), SETTINGS, ids=[where for where, _ in SETTINGS])
def test_the_default_text_parses_to_the_default(where: str, spec: Setting[Any]) -> None:
    info = next(info for info in SECTIONS if where.startswith(f"{info.cls.__name__}."))
    default = getattr(info.cls(), where.split(".", 1)[1])
    assert spec.parse(spec.default_text) == default


def parse_everywhere(value: str) -> None:
    """Every setting's parser takes ``value`` or raises ValueError saying what is allowed."""
    for where, spec in SETTINGS:
        try:
            spec.parse(value)
        except ValueError as exc:
            message = str(exc)
            assert message and not PYTHONS_WORDS.search(message), (where, value, message)


@pytest.mark.parametrize(
    "value", ["", " ", "abc", "-1", "1e999", "nan", "0x10", "１２", "1,5", "\x00", "sip:", "a-b"]
)
def test_every_parser_on_awkward_values(value: str) -> None:
    parse_everywhere(value)


@given(st.text(max_size=40))
def test_every_parser_says_what_is_allowed_never_pythons_words(value: str) -> None:
    parse_everywhere(value)


def test_a_plug_in_may_not_take_sipgws_names() -> None:
    @section("mine", title="Mine", intro="A plug-in's.")
    @dataclass(frozen=True)
    class Mine:
        port: int = setting(1, env="MINE_PORT", flag="--sip-port", parse=int, help="P.")

    @section("ok", title="OK", intro="A plug-in's.")
    @dataclass(frozen=True)
    class Fine:
        name: str = setting("", env="MINE_NAME", flag="--mine-name", parse=text, help="N.")

    info, fine = section_info(Mine), section_info(Fine)
    assert info is not None and fine is not None
    with pytest.raises(ConfigError, match="^--agent x:y: its setting --sip-port is one of sipgw"):
        check_names([info], "--agent x:y")
    check_names([fine, *SECTIONS], "--agent x:y")


def test_reading_the_catalogue_imports_no_vendor_module_and_no_runtime() -> None:
    # The CLI (its --help, its errors) and the health check read it at start: no SDK, no
    # user agent core, no media session there (`sipgw serve --help` stays quick).
    code = (
        "import sys, sipgw.app.sections, sipgw.app.cli, sipgw.app.healthcheck\n"
        "loaded = [m for m in ('openai', 'websockets', 'sipgw.agent.services.assemblyai.stt',\n"
        "          'sipgw.agent.services.openai.chat', 'sipgw.agent.services.elevenlabs.tts',\n"
        "          'sipgw.agent.assistant.agent',\n"
        "          'sipgw.app.gateway', 'sipgw.app.startup', 'sipgw.app.calls.outbound',\n"
        "          'sipgw.sip.useragent', 'sipgw.media.session') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
