"""The caller's audio to a speech-to-speech session, and local turn-taking
(sipgw/agent/s2s/hearing.py), through the agent against a scripted session
(tests/agent/s2s/parts.py)."""

from __future__ import annotations

from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.s2s.hearing import CallerHearing
from tests.agent.parts import TONE_DETECTOR, settle
from tests.agent.s2s.parts import LOUD, SILENCE, rig, speak


async def test_local_turn_taking_ends_turns_commits_barge_ins_and_lets_backchannels_pass() -> None:
    r = rig(server_turns=False, barge_in=BargeInSettings(commit_ms=300, noise=TONE_DETECTOR))
    await r.agent.prepare()
    r.agent.on_answered()
    r.caller([SILENCE] * 12 + [LOUD] * 10 + [SILENCE] * 12)  # speech, then 240 ms quiet
    assert r.session.sent == [("end_turn",)]
    speak(r.session, "r1", 3000)
    await settle()
    r.ticks(5)
    r.caller([LOUD] * 6 + [SILENCE] * 20)  # 120 ms "mm-hm" over the agent: it goes on
    assert r.session.sent == [("end_turn",)]
    assert r.ticks(1) == [LOUD]
    r.caller([LOUD] * 20)  # 400 ms of speech over the agent: a barge-in
    assert r.session.sent[-1][:2] == ("cancel", "r1")
    r.caller([SILENCE] * 12)
    assert r.session.sent[-1] == ("end_turn",)  # and the caller's turn is answered
    await r.agent.close()


async def test_while_the_caller_holds_the_session_hears_silence() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    r.agent.on_hold(True)
    r.caller([LOUD] * 10)  # hold music
    assert bytes(r.session.audio) == SILENCE * 10
    assert not r.agent.turns.vad.speaking  # and no speech for the turn-taking machine
    r.agent.on_hold(False)
    r.caller([LOUD])
    assert bytes(r.session.audio).endswith(LOUD)
    assert [line["held"] for line in r.record("hold")] == [True, False]
    await r.agent.close()


async def test_the_agent_hears_the_caller_through_its_hearing() -> None:
    r = rig(server_turns=False)
    hearing = r.agent.hearing
    assert isinstance(hearing, CallerHearing)
    assert hearing.endpointer is r.agent.endpointer is not None
    assert hearing.narrow is None  # a G.711 call: the detectors hear the frame as it came
    await r.agent.prepare()
    r.agent.on_answered()
    assert not r.agent.held
    r.agent.on_hold(True)
    assert r.agent.held and hearing.held
    r.agent.on_hold(False)
    assert not hearing.held
    await r.agent.close()
