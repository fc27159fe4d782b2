"""The settings registry: one row per setting, every row read, docs and .env.example in step."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from sipgw.app import settings_doc
from sipgw.app.access import load_access_config
from sipgw.app.accounts import load_registration_settings
from sipgw.app.admin.settings import load_admin_settings
from sipgw.app.agents import AGENTS, load_caller_context, load_echo_settings
from sipgw.app.assistant_settings import load_assistant_settings
from sipgw.app.callbacks import load_callback_setup
from sipgw.app.config import GatewayConfig, load_gateway_config
from sipgw.app.floods import FloodSettings, load_flood_config
from sipgw.app.healthcheck import main as healthcheck
from sipgw.app.limits import load_limits_config
from sipgw.app.outbound import load_outbound_config
from sipgw.app.overload import OverloadConfig, load_overload_config
from sipgw.app.settings import ConfigError, SettingValues
from sipgw.app.settings_registry import (
    ACCESS,
    ADMIN,
    AGENT,
    AGENT_NAMES,
    ECHO,
    FLOODS,
    GATEWAY,
    HEALTHCHECK,
    LIMITS,
    LLM_NAMES,
    OUTBOUND,
    OVERLOAD,
    PRIVACY,
    REGISTRATION,
    SECTIONS,
    SETTINGS,
    STT_NAMES,
    TRANSPORT,
    TTS_NAMES,
    WORKERS,
    resolve_settings,
)
from sipgw.app.vendors import LLM_VENDORS, STT_VENDORS, TTS_VENDORS, choose_vendors
from sipgw.app.workers import load_worker_count
from sipgw.testing.gateway_in_process import running_gateway

ROOT = Path(__file__).resolve().parents[3]
KEYS = {s.env: "key" for s in SETTINGS if s.required}
REGENERATE = "regenerate it: python -m sipgw.app.settings_doc {} > {}"


class RecordingValues(SettingValues):
    """Remembers which settings a loader read."""

    def __init__(self, environ: dict[str, str]) -> None:
        super().__init__(SETTINGS, environ)
        self.read: set[str] = set()

    def __getitem__(self, env: str) -> Any:
        self.read.add(env)
        return super().__getitem__(env)


def test_names_and_flags_are_unique_and_flags_are_the_gateways_and_the_agents() -> None:
    # ... and the outbound ones: `sipgw call` takes the same flags as `sipgw serve`
    names = [s.env for s in SETTINGS]
    assert len(names) == len(set(names))
    flags = [s.flag for s in SETTINGS if s.flag]
    assert len(flags) == len(set(flags))
    flagged = {s.env for s in SETTINGS if s.flag}
    sections = (
        GATEWAY, TRANSPORT, LIMITS, REGISTRATION, OUTBOUND, ACCESS, FLOODS, OVERLOAD, PRIVACY,
        ADMIN, WORKERS, AGENT, ECHO,
    )  # fmt: skip
    assert flagged == {s.env for section in sections for s in section.settings}
    assert all(s.help.endswith(".") and s.default == s.default.strip() for s in SETTINGS)


def test_every_setting_is_read_by_the_loader_of_its_section() -> None:
    values = RecordingValues({**KEYS, "SIPGW_PUBLIC_IP": "192.0.2.7", "SIPGW_AGENT": "assistant"})
    load_gateway_config(values)
    load_access_config(values)
    load_limits_config(values)
    load_flood_config(values)
    load_overload_config(values)
    load_registration_settings(values, AGENT_NAMES)
    load_outbound_config(values)
    load_callback_setup(values)
    load_admin_settings(values)
    load_worker_count(values)
    values.read.add("SIPGW_AGENT")  # read by make_agent_factory to pick the builder
    load_echo_settings(values)
    load_assistant_settings(values)
    load_caller_context(values)
    vendors = choose_vendors(values)
    for vendor in (vendors.stt, vendors.llm, vendors.tts):
        vendor.settings(values)
    unread = {s.env for s in SETTINGS} - values.read
    assert unread == {s.env for s in HEALTHCHECK.settings}  # read by the health check


def test_the_flood_defaults_are_the_sans_io_defaults() -> None:
    assert load_flood_config(resolve_settings({})) == FloodSettings()
    off = {
        "SIPGW_DROP_SCANNERS": "off",
        "SIPGW_RATE_INVITE": "0",
        "SIPGW_RATE_LIMIT_ACTION": "drop",
    }
    settings = load_flood_config(resolve_settings(off))
    assert settings.flood.scanner_user_agents == () and settings.flood.invite.unlimited
    extra = load_flood_config(resolve_settings({"SIPGW_SCANNER_USER_AGENTS": "WarDialer"}))
    assert extra.flood.scanner_user_agents[-1] == "wardialer"
    with pytest.raises(ConfigError, match="SIPGW_RATE_OPTIONS"):
        load_flood_config(resolve_settings({"SIPGW_RATE_OPTIONS": "fast"}))


def test_gateway_config_has_a_field_per_gateway_setting() -> None:
    names = {f"SIPGW_{f.name.upper()}" for f in fields(GatewayConfig)}
    assert names == {s.env for section in (GATEWAY, TRANSPORT) for s in section.settings}
    assert load_gateway_config(resolve_settings({})) == GatewayConfig()


def test_agent_and_vendor_tables_match_the_registry_choices() -> None:
    assert tuple(AGENTS) == AGENT_NAMES
    assert tuple(STT_VENDORS) == STT_NAMES
    assert tuple(LLM_VENDORS) == LLM_NAMES
    assert tuple(TTS_VENDORS) == TTS_NAMES
    for table in (STT_VENDORS, LLM_VENDORS, TTS_VENDORS):
        for name, vendor in table.items():
            assert vendor.name == name and vendor.section in SECTIONS


async def test_each_vendor_builds_its_client_from_its_settings() -> None:
    values = resolve_settings(KEYS)
    vendors = choose_vendors(values)
    stt = vendors.stt.client(vendors.stt.settings(values))
    llm = vendors.llm.client(vendors.llm.settings(values))
    tts = vendors.tts.client(vendors.tts.settings(values))
    assert type(stt).__name__ == "AssemblyAISTTService"
    assert type(tts).__name__ == "ElevenLabsTTSService"
    await llm.close()


def test_values_come_from_flag_then_environment_then_default() -> None:
    values = resolve_settings(
        {"SIPGW_SIP_PORT": "5070", "SIPGW_RING_TIME": "1"}, {"SIPGW_SIP_PORT": "5080"}
    )
    assert values.text("SIPGW_SIP_PORT") == ("5080", "--sip-port")
    assert values.text("SIPGW_RING_TIME") == ("1", "SIPGW_RING_TIME")
    assert values.text("SIPGW_LOG_LEVEL") == ("INFO", "default")


def test_docs_configuration_is_current() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert text == settings_doc.configuration_md(), REGENERATE.format(
        "configuration", "docs/configuration.md"
    )
    for section in SECTIONS:
        assert f"## {section.title}" in text
        for s in section.settings:
            assert f"`{s.env}`" in text and (s.flag is None or f"`{s.flag} " in text)
    for heading in ("Where a value comes from", "Exit statuses", "Configuring your own tools"):
        assert f"\n## {heading}\n" in text, heading


def test_env_example_is_current_and_lists_every_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    assert text == settings_doc.env_example(), REGENERATE.format("env-example", ".env.example")
    for s in SETTINGS:
        line = f"{s.env}=" if s.required else f"# {s.env}={s.default}"
        assert f"\n{line}\n" in text, s.env


def test_settings_doc_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_doc.main(["configuration"]) == 0
    assert capsys.readouterr().out == settings_doc.configuration_md()
    assert settings_doc.main(["nonsense"]) == 2


def test_healthcheck_names_a_bad_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(os.environ, "SIPGW_SIP_PORT", "http")
    assert healthcheck() == 1
    assert "SIPGW_SIP_PORT='http'" in capsys.readouterr().err


def test_reading_the_registry_imports_no_vendor_module() -> None:
    # The CLI and the health check read the registry at start: no SDK import there.
    code = (
        "import sys, sipgw.app.settings_registry, sipgw.app.cli, sipgw.app.healthcheck\n"
        "loaded = [m for m in ('openai', 'websockets', 'agent.stt.assemblyai',\n"
        "          'agent.llm.openai', 'agent.tts.elevenlabs') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("transports", [("UDP", "TCP"), ("TCP",)])
async def test_healthcheck_probes_over_udp_or_else_tcp(
    transports: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_gateway(transports=transports) as (gateway, _):
        port = gateway.sip.listening[0][2]
        monkeypatch.setenv("SIPGW_SIP_PORT", str(port))
        monkeypatch.setenv("SIPGW_TRANSPORTS", ",".join(t.lower() for t in transports))
        status = await asyncio.to_thread(healthcheck)
    assert status == 0
    assert f"over {transports[0]} -> 200" in capsys.readouterr().out


def test_the_overload_defaults_are_the_sans_io_defaults() -> None:
    assert load_overload_config(resolve_settings({})) == OverloadConfig()
    off = load_overload_config(
        resolve_settings({"SIPGW_OVERLOAD_LATENESS_MS": "0", "SIPGW_OVERLOAD_CPU_PERCENT": "0"})
    )
    assert not off.enabled and off.describe() == "overload protection off"
    with pytest.raises(ConfigError, match="SIPGW_OVERLOAD_RECOVER_CPU_PERCENT"):
        load_overload_config(resolve_settings({"SIPGW_OVERLOAD_RECOVER_CPU_PERCENT": "95"}))
    with pytest.raises(ConfigError, match="SIPGW_OVERLOAD_HOLD"):
        load_overload_config(resolve_settings({"SIPGW_OVERLOAD_HOLD": "-1"}))
