"""What both AI agents' plug-ins build alike (agent/conversation/building.py): their call
settings with the gateway's stores, and the tool registry from every source of tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sipgw.agent.capabilities import GatewayServices
from sipgw.agent.conversation.building import ASSISTANT_KEYS, agent_settings, tool_registry
from sipgw.agent.conversation.sections import (
    AssistantSection,
    BuiltinToolsSection,
    CallbackSection,
    PreemptiveSection,
)
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.tools.settings import DeclaredToolsSection
from sipgw.foundation.settings import ConfigError, Sources, load

SOURCES = Sources({"SIPGW_CALL_RECORD_DIR": ""})


def settings(gateway: GatewayServices) -> AssistantSettings:
    return agent_settings(
        load(AssistantSection, SOURCES),
        load(PreemptiveSection, SOURCES),
        load(BuiltinToolsSection, SOURCES),
        load(CallbackSection, SOURCES),
        gateway,
    )


def test_the_settings_take_the_gateways_stores_when_it_shares_them() -> None:
    alone = settings(GatewayServices())
    store: Any = object()
    shared = settings(GatewayServices(callback_store=store, message_store=store))
    assert alone.builtin_tools.callback_store is None
    assert shared.builtin_tools.callback_store is store
    assert shared.builtin_tools.message_store is store


def test_the_registry_holds_the_builtin_tools_and_names_a_module_that_does_not_load() -> None:
    registry = tool_registry(AssistantSettings())
    assert "end_call" in registry.names
    with pytest.raises(ConfigError, match="SIPGW_TOOLS_MODULE.*no_such_tools_module"):
        tool_registry(AssistantSettings(tools_module="no_such_tools_module"))


def test_declared_http_tools_join_the_registry() -> None:
    declared = json.dumps(
        {
            "http_tools": [
                {
                    "name": "weather",
                    "description": "The weather.",
                    "url": "https://api.example.com/weather",
                }
            ]
        }
    )
    sources = Sources({"SIPGW_DECLARED_TOOLS": declared})
    registry = tool_registry(AssistantSettings(), load(DeclaredToolsSection, sources), sources)
    assert "weather" in registry.names


def test_the_routes_file_keys_name_fields_of_the_sections() -> None:
    for section, field in ASSISTANT_KEYS.values():
        assert field in section.__dataclass_fields__
