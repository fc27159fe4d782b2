"""AssemblyAI's wire rules, sans-IO (sipgw/agent/services/assemblyai/stt_protocol.py): close codes,
the session's query and URL, the text frames both ways."""

from __future__ import annotations

import json

import pytest

from sipgw.agent.services.assemblyai.stt_options import AssemblyAISettings
from sipgw.agent.services.assemblyai.stt_protocol import (
    API_VERSION,
    FORCE_ENDPOINT,
    TERMINATE,
    build_query_params,
    close_is_fatal,
    close_text,
    describe_close,
    headers,
    is_rate_limited,
    public_url,
    session_url,
    update_configuration,
)
from sipgw.app.evaluation.fakes.assemblyai import REQUIRED_PARAMS
from tests.toolkit.canaries import ASSEMBLYAI_KEY

KEY = ASSEMBLYAI_KEY


def test_query_params_encode_lists_as_json_and_skip_unset() -> None:
    settings = AssemblyAISettings(api_key="k", keyterms_prompt=("Acme", "Sonny"))
    params = build_query_params(settings, {"max_turn_silence": 3000, "format_turns": False})
    assert params == {
        **REQUIRED_PARAMS,
        "keyterms_prompt": '["Acme", "Sonny"]',
        "max_turn_silence": "3000",
        "format_turns": "false",
    }


@pytest.mark.parametrize(
    ("code", "reason", "fatal"),
    [
        (1008, "Unauthorized Connection: Missing Authorization header", True),
        (1008, "Insufficient account balance", True),
        (4002, "Insufficient account balance", True),
        (1008, "Too many concurrent sessions", False),
        (4001, "Not Authorized", True),
        (4029, "Client sent audio too fast", False),
        (1006, "", False),
        (3005, "Internal error", False),
        (3008, "Session expired", False),
        (3009, "Too many concurrent sessions", False),
        (1013, "", False),
    ],
)
def test_close_code_policy(code: int, reason: str, fatal: bool) -> None:
    assert close_is_fatal(code, reason) is fatal


def test_speech_partial_settings_are_u3_pro_only_and_bounded() -> None:
    query = build_query_params(
        AssemblyAISettings(api_key=KEY, interruption_delay=250, continuous_partials=False)
    )
    assert (query["interruption_delay"], query["continuous_partials"]) == ("250", "false")
    assert "interruption_delay" not in build_query_params(AssemblyAISettings(api_key=KEY))
    with pytest.raises(ValueError, match="outside 0-1000 ms"):
        AssemblyAISettings(api_key=KEY, interruption_delay=1001)
    with pytest.raises(ValueError, match="interruption_delay: Universal-3 Pro parameters"):
        AssemblyAISettings(api_key=KEY, speech_model="whisper-rt", interruption_delay=0)


@pytest.mark.parametrize(
    ("code", "reason", "limited"),
    [(3009, "", True), (429, "", True), (1008, "Too many concurrent sessions", True),
     (1008, "Unauthorized", False), (1006, "", False), (None, "", False)],
)  # fmt: skip
def test_rate_limits_are_3009_429_and_a_1008_about_concurrency(
    code: int | None, reason: str, limited: bool
) -> None:
    assert is_rate_limited(code, reason) is limited


def test_closes_are_described_for_humans() -> None:
    assert describe_close(1008, "Unauthorized") == (
        "1008 Unauthorized (policy violation: authentication, account or concurrency)"
    )
    assert describe_close(4099, "x") == "4099 x (legacy error code)"
    assert describe_close(None, "") == "closed"


def test_a_close_is_judged_with_the_error_frame_before_it() -> None:
    assert close_text("", "Too many concurrent sessions") == "Too many concurrent sessions"
    assert close_text("Policy", "Too many") == "Policy; Too many"
    assert close_text("Too many sessions", "Too many") == "Too many sessions"  # said already
    assert close_text("Policy", "") == "Policy"


def test_the_messages_and_headers() -> None:
    assert json.loads(TERMINATE) == {"type": "Terminate"}
    assert json.loads(FORCE_ENDPOINT) == {"type": "ForceEndpoint"}
    assert json.loads(update_configuration({"max_turn_silence": 3000})) == {
        "type": "UpdateConfiguration", "max_turn_silence": 3000,
    }  # fmt: skip
    with pytest.raises(ValueError, match="'type'"):
        update_configuration({"type": "Terminate"})
    with pytest.raises(TypeError):
        update_configuration({"prompt": object()})
    assert headers("k") == {"AssemblyAI-Version": API_VERSION, "Authorization": "k"}
    assert headers("") == {"AssemblyAI-Version": API_VERSION}  # a token in the URL instead


def test_the_session_url_keeps_its_query_and_the_public_url_drops_it() -> None:
    settings = AssemblyAISettings(api_key="", url="wss://example.test/v3/ws?token=t0k")
    url = session_url(settings, {"max_turn_silence": 2000})
    assert url.startswith("wss://example.test/v3/ws?token=t0k&speech_model=u3-rt-pro&")
    assert url.endswith("&max_turn_silence=2000")
    assert public_url(url) == "wss://example.test/v3/ws"
