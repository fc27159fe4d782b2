"""The caller holds the assistant (sipgw.agent.base.Agent.on_hold): its speech and its timers wait.

On the in-memory doubles: the gateway calls ``on_hold`` when a re-INVITE turns the call's
direction to sendonly/inactive and back (tests/sipgw/app/calls/test_callpath.py has that side).
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path

import pytest

from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.services.stt.base import SttTurnEnded
from sipgw.app.evaluation.audio import tone_frames
from tests.agent.parts import Turn, assistant, play_out, settle, wait_for

pytestmark = pytest.mark.timeout(20)

SILENCE = b"\xff" * 160


async def test_hold_music_is_not_the_caller_talking() -> None:
    a = assistant(script=[Turn(text="Our shop opens at nine and closes at six every weekday.")])
    a.agent.playout.held = False
    a.agent.responder.reply_to("When do you open?")
    await wait_for(lambda: a.agent.playout.pending)
    a.agent.on_hold(True)
    music = tone_frames(440, 2.0, -12.0)
    for frame in music:  # loud, for two seconds: a barge-in, were it speech
        a.agent.on_caller_audio(frame)
        await asyncio.sleep(0)
    await settle()
    assert not a.record("barge_in") and not a.agent.playout.paused
    assert a.stt.audio[-len(music) :] == [SILENCE] * len(music)  # recognizer hears silence
    assert a.agent.playout.pending  # the reply waits where it was
    a.agent.on_hold(False)
    a.agent.on_caller_audio(music[0])
    assert a.stt.audio[-1] == music[0]
    frames = await play_out(a.agent.playout)
    assert sum(frame is not None for frame in frames) > 10  # the reply plays on
    assert [(r["held"], r["by"]) for r in a.record("hold")] == [(True, "caller"), (False, "caller")]
    await a.agent.close()


async def test_an_action_s_line_is_waited_for_past_its_timeout_while_on_hold() -> None:
    a = assistant(goodbye_line="Goodbye.", action_line_timeout=0.3)
    a.agent.playout.held = False
    a.agent.on_hold(True)
    a.agent.actions.hangup_after_reply()
    await asyncio.sleep(0.6)  # twice the timeout: nothing could be heard meanwhile
    assert a.call.hangups == 0
    a.agent.on_hold(False)
    await play_out(a.agent.playout)
    await wait_for(lambda: a.call.hangups == 1)
    assert a.record("action")[0]["line"] == "default"
    await a.agent.close()


async def test_the_wait_counts_again_after_the_hold() -> None:
    a = assistant(goodbye_line="Goodbye.", action_line_timeout=0.3)
    a.agent.playout.held = False
    a.agent.actions.hangup_after_reply()
    a.agent.on_hold(True)
    await asyncio.sleep(0.1)
    a.agent.on_hold(False)  # the line never plays (nobody drives the playout)
    await wait_for(lambda: a.call.hangups == 1, within=2.0)
    assert a.record("action")[0]["line"] == "timeout"
    await a.agent.close()


async def test_the_timers_stop_while_held_and_go_on_after() -> None:
    """A slow reply and keypad digits when the caller holds: no "one moment" into the
    hold, no reply to digits meanwhile (each would wait queued and play stale); after the
    hold the failure policy's wait goes on from where it was (its deadline, 0.3 s of wait
    left, comes before the digits' reply, 0.5 s after the resume: a reply's audio ready
    ends the wait)."""
    a = assistant(script=[Turn(text="Found it.", delay=2.0)], dtmf_timeout=0.5,
                  failure_policy=FailurePolicySettings(hold_line_after=0.3))  # fmt: skip
    await a.agent.prepare()
    a.agent.on_answered()
    a.stt.emit(SttTurnEnded("Where is my order?", 0, (), asyncio.get_running_loop().time(),
                            None))  # fmt: skip
    await wait_for(lambda: a.llm.requests)  # the reply's LLM request runs (slowly)
    a.agent.on_dtmf("5")
    a.agent.on_hold(True)
    await asyncio.sleep(0.6)  # past the hold line's time and the keypad's
    assert not a.record("failure") and len(a.llm.requests) == 1
    a.agent.on_hold(False)
    await wait_for(lambda: a.record("failure"))
    assert [r["decision"] for r in a.record("failure")] == ["hold_line"]
    await wait_for(lambda: len(a.llm.requests) == 2)  # the digits, after the hold
    await a.agent.close()


async def test_a_repeated_hold_is_recorded_once() -> None:
    a = assistant()
    a.agent.on_hold(True)
    a.agent.on_hold(True)
    a.agent.on_hold(False)
    a.agent.on_hold(False)
    assert len(a.record("hold")) == 2
    await a.agent.close()


def is_ok_for(cseq: int, message: object) -> bool:
    """The 200 answering our request of that CSeq number."""
    from sipgw.sip.message import SipResponse

    return (
        isinstance(message, SipResponse) and message.status == 200 and message.cseq.number == cseq
    )


async def test_a_pbx_s_hold_music_is_no_turn_and_no_barge_in(tmp_path: Path) -> None:
    """End to end, the production clients on the fake services over real sockets: a PBX
    holds the call (re-INVITE sendonly) and sends its hold music, loud, for two seconds;
    nothing of it reaches speech-to-text or cuts the reply, which goes on after the resume."""
    from sipgw.app.evaluation.fakes.openai import FakeResponse
    from sipgw.sip.message import SipResponse
    from tests.agent.assistant.test_assistant_outbound import services
    from tests.toolkit.gateway_in_process import running_gateway

    long = "Our shop opens at nine and closes at six on weekdays. " * 4
    async with services(tmp_path, SIPGW_GREETING="") as s:
        s.tts.map_text("opens at nine", 900)
        s.stt.script(["When are you open?"])
        s.llm.script([FakeResponse(text=long)])
        async with running_gateway(agent="assistant", env=s.env) as (_, new_phone):
            phone = await new_phone()
            await phone.invite()
            phone.start_audio()
            phone.say(tone_frames(300, 0.6, -15.0))
            await phone.wait_for_tone(900, within=8)
            for cseq, direction in ((2, "sendonly"), (3, "sendrecv")):
                # The hold ends when the gateway answers this re-INVITE, maybe before its 200
                # reaches us: judge the hold up to the moment the resume goes out.
                resuming_at = asyncio.get_running_loop().time()
                phone.send(phone.request("INVITE", phone.sdp().replace("sendrecv", direction),
                                         cseq=cseq))  # fmt: skip
                # This re-INVITE's 200 (CSeq), not a retransmission of the first INVITE's.
                ok = await phone.expect(partial(is_ok_for, cseq))
                assert isinstance(ok, SipResponse)
                phone.send(phone.request("ACK", cseq=cseq))
                if direction == "sendonly":
                    held_at = asyncio.get_running_loop().time()
                    phone.say(tone_frames(440, 2.0, -10.0))  # the PBX's music
                    await phone.wait_said(-1, within=5)
            resumed_at = asyncio.get_running_loop().time()
            phone.cseq = 3
            await wait_for(lambda: any(h.at > resumed_at and h.loud for h in phone.heard), 5.0)
            await phone.stop_audio()
            await phone.bye()
    assert len(s.llm.requests) == 1  # no turn from the music
    lines = [json.loads(line) for line in next((tmp_path / "calls").glob("*.jsonl")).open()]
    assert not [line for line in lines if line["type"] == "barge_in"]
    assert [line["held"] for line in lines if line["type"] == "hold"] == [True, False]
    during = [h for h in phone.heard if held_at + 0.1 < h.at < resuming_at]
    assert not during  # on hold: nothing was sent, the reply waited
    assert phone.heard_tone(900)
