"""A real softphone (baresip) handed from one line's agent to another's inside the call.

``sipgw serve --agent assistant --routes routes.toml`` with the fake AI services: the
front line may hand off to billing (``hand_off_to``), which keeps the whole conversation
(``hand_off_history = "full"``) and has speech-to-text, idle and allow-list settings of its
own. The fake TTS speaks each voice as its own tone (``map_voice``), so the recording shows
when the voice changed, and the silence between the front agent's last words and
billing's first. After the hand-off the call is billing's: its own speech-to-text session
(billing's keyterms), its idle policy (it hangs up on the quiet caller), its line label in
``/metrics``, its dashboard entry, and one call record showing both lines with their times.

The second test hands a caller from the assistant to a speech-to-speech line (OpenAI's
Realtime API, its fake) and back: each agent takes the call over with the summary and the
conversation so far.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.interop.services import fake_services
from tests.toolkit.canaries import OPENAI_KEY
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.fakes.voice_base import FakeReply
from tests.toolkit.fakes.voice_base import FakeToolCall as FakeS2sToolCall
from tests.toolkit.metrics import sample_value
from tests.toolkit.peers.baresip import Baresip
from tests.toolkit.waiting import wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

FRONT_HZ, BILLING_HZ, SPEECH_HZ, NIGHT_HZ = 600, 1400, 300, 1800
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
keyterms = "refund, invoice"

[lines.billing.settings]
SIPGW_IDLE_AFTER = 2
SIPGW_IDLE_CHECKS = 0
SIPGW_IDLE_GOODBYE = "Billing says goodbye now."
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


def admin_get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        body: bytes = response.read()
        return body


def test_a_hand_off_makes_the_call_the_other_lines_without_a_gap(
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
    admin = free_port()
    gw = GatewayProcess(
        tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=services.env,
        extra_args=["--routes", str(tmp_workdir / "routes.toml"), "--admin-port", str(admin)],
    )  # fmt: skip
    caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
    with gw, caller:
        caller.dial(gw.uri("+15550100"))
        caller.wait_event("CALL_ESTABLISHED", 10)
        # Billing's idle policy (2 s, no check-in) ends the call: the goodbye, then our BYE.
        closed = caller.wait_event("CALL_CLOSED", 15.0)
        assert closed["param"] == "Connection reset by peer", closed
        gw.wait_log(r"call ended: local-bye", 5)
        metrics = admin_get(admin, "/metrics")
        (recent,) = json.loads(admin_get(admin, "/api/recent"))["calls"]
        detail = json.loads(admin_get(admin, f"/api/recent/{recent['id']}"))
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
    # Billing's own speech-to-text session (its keyterms), opened while the tool ran.
    sessions = services.stt.sessions
    assert len(sessions) >= 2 and hand_off["stt"] == "new", sessions
    assert "invoice" not in sessions[-2].query and "invoice" in sessions[-1].query
    # Billing's idle policy: its goodbye, heard after billing's first words, then the BYE.
    # (billing's voice again, after 2 s of the caller's silence: one tone per utterance).
    assert len(billing) >= 2 and billing[-1][0] - billing[0][1] > 1.5, report.describe()
    idle = [r["step"] for r in record if r["type"] == "idle"]
    assert idle == ["hang_up"] and record[-1]["type"] == "end", record[-3:]
    # One record for the call: both lines with their times.
    (lines,) = [r["lines"] for r in record if r["type"] == "lines"]
    assert [line["line"] for line in lines] == ["front", "billing"], lines
    assert lines[0]["ended"] == lines[1]["started"] <= lines[1]["ended"]
    assert [r["line"] for r in record if r["type"] == "line"] == ["front", "billing"]
    # The metrics label and the dashboard entry are billing's.
    labels = {"direction": "inbound", "leg": "sip", "outcome": "local-bye"}
    assert sample_value(metrics, "sipgw_calls_total", **labels, line="billing") == 1
    assert sample_value(metrics, "sipgw_calls_total", **labels, line="front") is None
    assert recent["line"] == "billing" and detail["line"] == "billing"
    assert [entry["line"] for entry in detail["lines"]] == ["front", "billing"]
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


NIGHT_ROUTES = """\
default = "front"

[lines.front]
agent = "assistant"
voice = "front-voice"
hand_off_to = ["night"]

[lines.night]
agent = "realtime"
hand_off_to = ["front"]
hand_off_history = "full"
"""


def test_a_caller_goes_to_a_speech_to_speech_line_and_back(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    (tmp_workdir / "routes.toml").write_text(NIGHT_ROUTES)
    services.stt.script(["I need the night desk."])
    services.llm.script(
        [
            FakeResponse(
                tool_calls=[FakeToolCall("hand_off", {"line": "night", "summary": "Wants nights."})]
            ),
            FakeResponse(text="Putting you through to the night desk."),
            FakeResponse(text="Front desk again, how else can I help?"),
        ]
    )
    source = write_pattern(
        tmp_workdir / "audio" / "turn.wav", [(None, 1.0), (SPEECH_HZ, 0.8), (None, 30.0)], -12.0
    )
    realtime = FakeRealtime(OPENAI_KEY, speed=2.0, reply_delay=0.05).start_in_thread()
    try:
        realtime.map_text("Night desk", NIGHT_HZ)
        back = {"line": "front", "summary": "Night caller, back to the front."}
        realtime.script(
            [
                FakeReply("Night desk here.", tool_calls=[FakeS2sToolCall("hand_off", back)]),
                FakeReply("Night desk: sending you back."),
            ]
        )
        env = {**services.env, "OPENAI_REALTIME_BASE_URL": realtime.base_url}
        gw = GatewayProcess(
            tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env,
            extra_args=["--routes", str(tmp_workdir / "routes.toml")],
        )  # fmt: skip
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=source)
        with gw, caller:
            caller.dial(gw.uri("+15550100"))
            caller.wait_event("CALL_ESTABLISHED", 10)
            gw.wait_log(r"handed to line night", 20)
            gw.wait_log(r"handed to line front", 20)  # and back
            llm = services.llm
            wait_for(lambda: len(llm.requests) >= 3, 10, lambda: llm.requests)
            time.sleep(2.5)  # the front desk's reply is heard (under a second of audio)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5)
            heard, _ = caller.recordings()
            assert gw.stop() == 0
        sessions = realtime.sessions
    finally:
        realtime.stop()
    report = analyse(heard)
    front, night = tone_spans(report, FRONT_HZ), tone_spans(report, NIGHT_HZ)
    assert front and night, report.describe()
    assert front[0][1] <= night[0][0] and night[-1][1] <= front[-1][0], report.describe()
    record = [json.loads(line) for line in next((tmp_workdir / "calls").glob("*.jsonl")).open()]
    moves = [(r["from"], r["to"]) for r in record if r["type"] == "hand_off"]
    assert moves == [("front", "night"), ("night", "front")], moves
    (lines,) = [r["lines"] for r in record if r["type"] == "lines"]
    assert [line["line"] for line in lines] == ["front", "night", "front"]
    # The night desk's session was told the summary and the conversation so far (full).
    told = " ".join(
        str(update.get("session", {}).get("instructions", ""))
        for session in sessions
        for update in session.received("session.update")
    )
    assert "'Wants nights.'" in told and "Caller: I need the night desk." in told, told
    # Back on the front line, its model got the night desk's summary.
    last = services.llm.requests[-1].body["messages"]
    assert len(services.llm.requests) == 3 and last[0]["role"] == "system"
    assert "'Night caller, back to the front.'" in last[-1]["content"]
