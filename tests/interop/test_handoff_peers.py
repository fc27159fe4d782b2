"""A real softphone (baresip) handed from one line's agent to another's inside the call.

``sipgw serve --agent assistant --routes routes.toml`` with the fake AI services: the
front line may hand off to billing (``hand_off_to``), which keeps the whole conversation
(``hand_off_history = "full"``). The fake TTS speaks each voice as its own tone
(``map_voice``), so the recording shows when the voice changed, and the silence between
the front agent's last words and billing's first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.services import fake_services
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

FRONT_HZ, BILLING_HZ, SPEECH_HZ = 600, 1400, 300
BILLING_PROMPT = "You are the billing desk. Answer questions about bills."
ROUTES = """\
default = "front"

[lines.front]
agent = "assistant"
voice = "front-voice"
hand_off_to = ["billing"]

[lines.billing]
agent = "assistant"
voice = "billing-voice"
prompt_file = "billing.txt"
hand_off_history = "full"
"""
MAX_GAP = 0.8
"""The longest silence allowed between the two voices (s): one reply's first audio from
the fakes (LLM first token and TTS first byte, ~0.2-0.4 s here) and the 0.1 s analysis step."""


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fake_services(tmp_workdir, {}) as fakes:
        fakes.tts.map_voice("front-voice", FRONT_HZ)
        fakes.tts.map_voice("billing-voice", BILLING_HZ)
        yield fakes


def test_a_hand_off_changes_the_voice_without_a_gap(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    (tmp_workdir / "routes.toml").write_text(ROUTES)
    (tmp_workdir / "billing.txt").write_text(BILLING_PROMPT)
    services.stt.script(["I have a question about my bill."])
    summary = "Caller has a question about their bill."
    services.llm.script(
        [
            FakeResponse(
                tool_calls=[FakeToolCall("hand_off", {"line": "billing", "summary": summary})]
            ),
            FakeResponse(text="Let me put you through to our billing desk."),
            FakeResponse(text="Billing desk here, what would you like to know about your bill?"),
        ]
    )
    source = write_pattern(
        tmp_workdir / "audio" / "turn.wav", [(None, 1.0), (SPEECH_HZ, 0.8), (None, 30.0)], -12.0
    )
    gw = GatewayProcess(
        tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=services.env,
        extra_args=["--routes", str(tmp_workdir / "routes.toml")],
    )  # fmt: skip
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
    with gw, caller:
        caller.dial(gw.uri("+15550100"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        try:
            caller.wait_event("CALL_CLOSED", 8.0)
        except AssertionError:
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended:", 5)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    report = analyse(heard)
    front, billing = tone_spans(report, FRONT_HZ), tone_spans(report, BILLING_HZ)
    assert front and billing, report.describe()
    assert front[-1][1] <= billing[0][0], report.describe()  # one voice, then the other
    gap = billing[0][0] - front[-1][1]
    assert gap <= MAX_GAP, (gap, report.describe())
    print(f"hand-off gap: {gap:.2f} s")  # for the report (pytest -s)

    (path,) = (tmp_workdir / "calls").glob("*.jsonl")
    record = [json.loads(line) for line in path.read_text().splitlines()]
    hand_off = next(r for r in record if r["type"] == "hand_off")
    assert (hand_off["from"], hand_off["to"], hand_off["history"]) == ("front", "billing", "full")
    assert hand_off["after_answer_ms"] > 1000
    # The model saw the tool with its one target; billing's model its own prompt, the whole
    # conversation, the summary as data, and no hand_off tool (billing names no line).
    first = services.llm.requests[0].body
    (tool,) = [t for t in first["tools"] if t["function"]["name"] == "hand_off"]
    assert tool["function"]["parameters"]["properties"]["line"]["enum"] == ["billing"]
    third = services.llm.requests[2].body
    messages = third["messages"]
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith(BILLING_PROMPT)
    assert any(
        m["role"] == "user" and "question about my bill" in (m["content"] or "") for m in messages
    )
    assert summary in messages[-1]["content"]
    assert all(t["function"]["name"] != "hand_off" for t in third.get("tools", []))
    # The call's connections (after the start-up's fallback lines): front's, then billing's.
    voices = [r.voice_id for r in services.tts.requests]
    assert voices[-2:] == ["front-voice", "billing-voice"], voices
