"""The assistant's sections turned into its settings: the agent layer's defaults, typed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.conversation.sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    CallerContextSection,
    PreemptiveSection,
    assistant_settings,
    caller_context,
)
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.app.agentstart import agents_may_dial
from sipgw.foundation.redact import Redactor
from sipgw.foundation.settings import ConfigError, Sources, load, state_dir
from sipgw.sip.dialpolicy import DialPolicy

REDACTOR = Redactor()


def settings_from(environ: dict[str, str]) -> AssistantSettings:
    sources = Sources(environ)
    return assistant_settings(
        load(AssistantSection, sources),
        load(PreemptiveSection, sources),
        load(BuiltinToolsSection, sources),
        load(CallbackSection, sources),
        agents_may_dial(sources),
        REDACTOR,
    )


def test_the_defaults_are_the_agent_layers_defaults() -> None:
    settings = settings_from({})
    # The agent's default checker refuses everything; the app gives the empty allow-list.
    # The files kept across restarts: the agent layer's names, under the state directory
    # (the fallback lines' cache comes with the fallback section: tests/agent/resilience).
    state, agents = state_dir(Sources({})), AssistantSettings()
    callbacks = state / BuiltinToolSettings().callback_db
    tools = BuiltinToolSettings(dial_policy=DialPolicy(), callback_db=callbacks)
    assert agents.record_dir is not None
    assert settings == AssistantSettings(
        redactor=REDACTOR, builtin_tools=tools, record_dir=state / agents.record_dir
    )
    assert settings.builtin_tools == tools


def test_action_lines_and_fillers() -> None:
    s = settings_from(
        {"SIPGW_TRANSFER_LINE": "Hold on.", "SIPGW_GOODBYE_LINE": "",
         "SIPGW_ACTION_LINE_TIMEOUT_MS": "2500", "SIPGW_FILLER_AFTER_MS": "0",
         "SIPGW_FILLER_LINES": "One moment, please. | Checking, hold on."}
    )  # fmt: skip
    assert (s.transfer_line, s.goodbye_line, s.action_line_timeout) == ("Hold on.", "", 2.5)
    assert s.filler_after is None  # 0 = no fillers
    assert s.filler_lines == ("One moment, please.", "Checking, hold on.")  # commas kept
    assert settings_from({}).filler_after == 0.7


def test_barge_in_preemptive_and_timing() -> None:
    s = settings_from(
        {"SIPGW_BARGE_IN_START_MS": "80", "SIPGW_BARGE_IN_COMMIT_MS": "700",
         "SIPGW_VAD_MIN_LEVEL_DBFS": "-45.5", "SIPGW_DTMF_TIMEOUT_MS": "900",
         "SIPGW_PREEMPTIVE": "on", "SIPGW_PREEMPTIVE_PAUSE_MS": "150",
         "SIPGW_ANSWER_WAIT_MS": "0", "SIPGW_CALL_RECORD_DIR": ""}
    )  # fmt: skip
    assert (s.barge_in.vad.start_ms, s.barge_in.commit_ms) == (80, 700)
    assert s.barge_in.vad.min_level_dbfs == -45.5 and s.dtmf_timeout == 0.9
    assert s.preemptive_pause_ms == 150 and s.answer_wait == 0.0 and s.record_dir is None
    assert settings_from({"SIPGW_PREEMPTIVE_PAUSE_MS": "150"}).preemptive_pause_ms is None
    assert not s.preemptive_during_speech
    on = {"SIPGW_PREEMPTIVE": "on", "SIPGW_PREEMPTIVE_DURING_SPEECH": "on"}
    assert settings_from(on).preemptive_during_speech
    assert not settings_from({"SIPGW_PREEMPTIVE_DURING_SPEECH": "on"}).preemptive_during_speech


def test_builtin_tool_settings() -> None:
    s = settings_from(
        {"SIPGW_ORDERS_FILE": "/srv/orders.json", "SIPGW_CALLBACK_DB": "",
         "SIPGW_TRANSFER_TARGET": "sip:desk@pbx.example"}
    )  # fmt: skip
    assert s.builtin_tools == BuiltinToolSettings(
        orders_file=Path("/srv/orders.json"),
        callback_db=state_dir(Sources({})) / "callbacks.sqlite3",  # empty: the default
        transfer_target="sip:desk@pbx.example",
        # the transfer target is allowed for transfers only, nothing else is
        dial_policy=DialPolicy(per_action={"transfer": ("sip:desk@pbx.example",)}),
    )
    assert s.builtin_tools.dial_policy.allows("transfer", "sip:desk@pbx.example")
    assert not s.builtin_tools.dial_policy.allows("call", "sip:desk@pbx.example")


def test_prompt_file(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You are a pizza shop.\n")
    assert settings_from({"SIPGW_SYSTEM_PROMPT_FILE": str(prompt)}).system_prompt == (
        "You are a pizza shop."
    )
    with pytest.raises(ConfigError, match="SIPGW_SYSTEM_PROMPT_FILE"):
        settings_from({"SIPGW_SYSTEM_PROMPT_FILE": str(tmp_path / "missing")})


def test_no_caller_context_unless_named() -> None:
    assert caller_context(CallerContextSection()) is None
    with pytest.raises(ConfigError, match="^SIPGW_CALLER_CONTEXT: .*no_such_module_here"):
        caller_context(CallerContextSection(caller_context="no_such_module_here:lookup"))
