"""Warm transfer by a speech-to-speech agent between three real parties: a baresip caller,
the gateway (``sipgw serve --agent realtime`` or ``voice-agent``, a subprocess, the vendor's
fake in a thread) and a baresip person.

The caller asks for a person; the model calls ``transfer_to_human`` with a summary and
says its line (a tone of its own); with ``SIPGW_TRANSFER_MODE=warm`` the caller hears
hold music while the gateway calls the person. The consultation call is the model's
voice: the brief is spoken by a second session of the same service (the fake speaks it
as the summary's tone) and a third one listens for the person's words
(agent/s2s/ears.py), which hears their "Hello?". The person accepts with a key; baresip
lists no ``replaces``, so the gateway bridges the two calls, and then each phone hears the
other's tone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.agent.s2s.stack import Kind
from tests.interop.test_s2s_peers import fake_service
from tests.interop.test_warm_transfer_peers import (
    CALLER_HZ,
    LINE_HZ,
    MUSIC_HZ,
    PERSON_HZ,
    SPEECH_HZ,
    SUMMARY,
    SUMMARY_HZ,
    heard,
    record_lines,
    wait_heard,
    wav,
)
from tests.toolkit.fakes.voice_base import FakeReply, FakeToolCall
from tests.toolkit.peers.baresip import Baresip

pytestmark = pytest.mark.timeout(90)

LINE = "Let me connect you with a colleague."


@pytest.mark.parametrize("kind", ["realtime", "voice-agent"])
def test_the_person_hears_the_brief_in_the_model_s_voice_accepts_and_is_bridged(
    tmp_workdir: Path, kind: Kind
) -> None:
    caller_wav = wav(tmp_workdir, "caller", (None, 0.6), (SPEECH_HZ, 0.6), (None, 5.0),
                     (CALLER_HZ, 60.0))  # fmt: skip
    person_wav = wav(tmp_workdir, "person", (None, 0.5), (SPEECH_HZ, 0.5), (None, 3.0),
                     (PERSON_HZ, 60.0))  # fmt: skip
    with fake_service(kind, speed=2.0, reply_delay=0.05) as (fake, env):
        fake.map_text("connect you with a colleague", LINE_HZ)
        fake.map_text("refund", SUMMARY_HZ)  # the brief: intro, summary and prompt
        tool = FakeToolCall("transfer_to_human", {"reason": "asked for a person",
                                                  "summary": SUMMARY})  # fmt: skip
        fake.script([FakeReply(tool_calls=[tool]), FakeReply(LINE)])
        fake.script_transcripts(["Can I talk to a person?", "Hello?"])
        with Baresip(tmp_workdir, "human", user="human", answermode="auto",
                     source_wav=person_wav) as human:  # fmt: skip
            gw = GatewayProcess(tmp_workdir, agent=kind, extra_env={
                **env, "SIPGW_GREETING": "", "SIPGW_FALLBACK_SYNTHESIZE": "off",
                "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
                "SIPGW_TRANSFER_MODE": "warm", "SIPGW_TRANSFER_TARGET": human.uri,
                "SIPGW_CONSULT_ANSWER_TIMEOUT": "10", "SIPGW_CONSULT_INTRO": "A caller for you.",
                "SIPGW_CONSULT_PROMPT": "Press 1 to take it.",  # a short brief: a short test
            }, allow_from="127.0.0.0/8")  # fmt: skip
            caller = Baresip(tmp_workdir, "a", user="a", source_wav=caller_wav)
            with gw, caller:
                caller.dial(gw.uri("agent"))
                caller.wait_event("CALL_ESTABLISHED", 5)
                human.wait_event("CALL_ESTABLISHED", 15)  # the gateway calls the person
                wait_heard(human, SUMMARY_HZ, 1.0)  # who calls and why, in the model's voice
                human.send_dtmf("1")
                gw.wait_log(r"bridged with", 10)
                wait_heard(caller, PERSON_HZ, 1.0)  # the person, through the bridge
                wait_heard(human, CALLER_HZ, 1.0)  # the caller, through the bridge
                caller.hangup()
                caller.wait_event("CALL_CLOSED", 5)
                human.wait_event("CALL_CLOSED", 5)  # the bridged call ends with the caller's
                caller_heard, _ = caller.recordings()
        sessions = fake.sessions
    to_caller = analyse(caller_heard)
    line, music = heard(to_caller, LINE_HZ), heard(to_caller, MUSIC_HZ)
    assert line and music and line[0][0] < music[0][0], to_caller.describe()
    from_person = heard(to_caller, PERSON_HZ)
    assert from_person and from_person[0][0] > music[0][0], to_caller.describe()
    # the caller's session, the brief's (its one reply says the summary), the listener's
    assert len(sessions) == 3, [s.session.get("instructions") for s in sessions]
    (speaker,) = [s for s in sessions if any(SUMMARY in r.text for r in s.replies)]
    (brief,) = speaker.replies
    assert brief.trigger in ("greeting", "create") and brief.status == "completed", brief
    (listener,) = [s for s in sessions[1:] if s is not speaker]
    assert listener.audio_bytes > 8000  # the person's audio reached it
    # the caller's tone while on hold never reached the model: silence went instead
    assert [r.trigger for r in sessions[0].replies].count("turn") == 1, sessions[0].replies
    record = record_lines(tmp_workdir)
    stages = [r["stage"] for r in record if r["type"] == "warm_transfer"]
    assert stages == ["hold", "joined"], stages
    decided = next(r for r in record if r.get("stage") == "decided")
    assert (decided["decision"], decided["by"]) == ("accepted", "key 1")
