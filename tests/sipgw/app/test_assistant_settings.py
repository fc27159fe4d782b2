"""Assistant settings: required keys, parsing errors, and docs that match the code."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.settings import AssistantSettings, BuiltinToolSettings
from agent.stt.assemblyai import REGION_URLS
from sipgw.app.agents import make_agent_factory
from sipgw.app.assistant_settings import load_assistant_settings as load_from_values
from sipgw.app.settings import ConfigError
from sipgw.app.settings_registry import SETTINGS, resolve_settings
from sipgw.app.vendors import choose_vendors
from sipgw.dialpolicy import DialPolicy

ROOT = Path(__file__).resolve().parents[3]
KEYS = {s.env: "key" for s in SETTINGS if s.required}


def load_assistant_settings(environ: dict[str, str]) -> AssistantSettings:
    return load_from_values(resolve_settings(environ))


def test_missing_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="ASSEMBLYAI_API_KEY, ELEVENLABS_API_KEY"):
        load_assistant_settings({"OPENAI_API_KEY": "x"})
    with pytest.raises(ConfigError, match="needs OPENAI_API_KEY"):  # empty counts as missing
        load_assistant_settings({**KEYS, "OPENAI_API_KEY": " "})


def test_registry_defaults_are_the_dataclass_defaults() -> None:
    s = load_assistant_settings(KEYS)
    # The agent's default checker refuses everything; the app gives the empty allow-list.
    tools = BuiltinToolSettings(dial_policy=DialPolicy())
    assert s == AssistantSettings(builtin_tools=tools)
    assert s.builtin_tools == tools


def test_action_lines_and_fillers() -> None:
    s = load_assistant_settings(
        {**KEYS, "SIPGW_TRANSFER_LINE": "Hold on.", "SIPGW_GOODBYE_LINE": "",
         "SIPGW_ACTION_LINE_TIMEOUT_MS": "2500", "SIPGW_FILLER_AFTER_MS": "0",
         "SIPGW_FILLER_LINES": "One moment, please. | Checking, hold on."}
    )  # fmt: skip
    assert (s.transfer_line, s.goodbye_line, s.action_line_timeout) == ("Hold on.", "", 2.5)
    assert s.filler_after is None  # 0 = no fillers
    assert s.filler_lines == ("One moment, please.", "Checking, hold on.")  # commas kept
    assert load_assistant_settings(KEYS).filler_after == 0.7


def test_builtin_tool_settings() -> None:
    s = load_assistant_settings(
        {**KEYS, "SIPGW_ORDERS_FILE": "/srv/orders.json", "SIPGW_CALLBACK_DB": "",
         "SIPGW_TRANSFER_TARGET": "sip:desk@pbx.example"}
    )  # fmt: skip
    assert s.builtin_tools == BuiltinToolSettings(
        orders_file=Path("/srv/orders.json"),
        callback_db=Path("callbacks.sqlite3"),
        transfer_target="sip:desk@pbx.example",
        # the transfer target is allowed for transfers only, nothing else is
        dial_policy=DialPolicy(per_action={"transfer": ("sip:desk@pbx.example",)}),
    )
    assert s.builtin_tools.dial_policy.allows("transfer", "sip:desk@pbx.example")
    assert not s.builtin_tools.dial_policy.allows("call", "sip:desk@pbx.example")


def test_vendor_defaults_and_region_and_base_urls() -> None:
    def vendor_settings(environ: dict[str, str]) -> SimpleNamespace:
        values = resolve_settings(environ)
        vendors = choose_vendors(values)
        return SimpleNamespace(
            stt=vendors.stt.settings(values),
            llm=vendors.llm.settings(values),
            tts=vendors.tts.settings(values),
        )

    s = vendor_settings({**KEYS, "ASSEMBLYAI_REGION": "eu"})
    assert s.stt.url == REGION_URLS["eu"] and s.stt.speech_model == "u3-rt-pro"
    assert s.stt.encoding == "pcm_mulaw" and s.stt.sample_rate == 8000
    assert s.tts.output_format == "ulaw_8000" and s.tts.model_id == "eleven_flash_v2_5"
    s = vendor_settings(
        {**KEYS, "ASSEMBLYAI_STREAMING_URL": "ws://127.0.0.1:1/v3/ws",
         "OPENAI_BASE_URL": "http://127.0.0.1:2/v1", "ELEVENLABS_BASE_URL": "http://127.0.0.1:3/",
         "ASSEMBLYAI_KEYTERMS": "Acme, Sonny ,", "ASSEMBLYAI_MIN_TURN_SILENCE": "200"}
    )  # fmt: skip
    assert s.stt.url == "ws://127.0.0.1:1/v3/ws" and s.llm.base_url == "http://127.0.0.1:2/v1"
    assert s.tts.base_url == "http://127.0.0.1:3"
    assert s.stt.keyterms_prompt == ("Acme", "Sonny") and s.stt.min_turn_silence == 200
    assert s.tts.auto_mode is True
    s = vendor_settings(
        {**KEYS, "ELEVENLABS_AUTO_MODE": "false",
         "ASSEMBLYAI_KEYTERMS": ",".join(f"{i:0>50}" for i in range(100))}  # the limits
    )  # fmt: skip
    assert s.tts.auto_mode is False and len(s.stt.keyterms_prompt) == 100


@pytest.mark.parametrize(
    ("name", "value"),
    [("ASSEMBLYAI_REGION", "mars"), ("OPENAI_TOTAL_TIMEOUT", "0"), ("SIPGW_MAX_TOOL_ROUNDS", "x"),
     ("ELEVENLABS_TRANSPORT", "carrier-pigeon"), ("SIPGW_STT", "whisper"),
     ("ASSEMBLYAI_CHUNK_MS", "20"), ("SIPGW_BARGE_IN_COMMIT_MS", "-1"),
     ("SIPGW_FILLER_LINES", " | "), ("SIPGW_FILLER_AFTER_MS", "-5"),
     ("SIPGW_ACTION_LINE_TIMEOUT_MS", "soon"),
     ("ASSEMBLYAI_KEYTERMS", ",".join(f"term{i}" for i in range(101))),
     ("ASSEMBLYAI_KEYTERMS", "Acme, " + "x" * 51), ("ELEVENLABS_AUTO_MODE", "maybe"),
     ("SIPGW_CALLER_CONTEXT", "no_such_module_here:lookup")],
)  # fmt: skip
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    # What `sipgw serve --agent assistant` does at start: build the agent factory
    # (the assistant's own settings and the chosen vendors' settings).
    environ = {**KEYS, "SIPGW_AGENT": "assistant", name: value}
    with pytest.raises(ConfigError, match=name):
        make_agent_factory(resolve_settings(environ))


def test_prompt_file(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You are a pizza shop.\n")
    assert (
        load_assistant_settings({**KEYS, "SIPGW_SYSTEM_PROMPT_FILE": str(prompt)}).system_prompt
        == "You are a pizza shop."
    )
    with pytest.raises(ConfigError, match="SIPGW_SYSTEM_PROMPT_FILE"):
        load_assistant_settings({**KEYS, "SIPGW_SYSTEM_PROMPT_FILE": str(tmp_path / "missing")})
