"""The speech-to-speech agent against a scripted in-memory session and a stub call
(tests/agent/s2s/parts.py): every rule of the agent, without sockets."""

from __future__ import annotations

import asyncio
import gc
import math
import time
from typing import cast

import pytest

from sipgw.agent.base import CallDetails
from sipgw.agent.conversation.caller_audio import DetectorKind, NoiseSettings
from sipgw.agent.conversation.caller_context import CallerContextSettings
from sipgw.agent.conversation.settings import AssistantSettings, BargeInSettings
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.s2s.agent import SpeechToSpeechAgent, session_format
from sipgw.agent.services.assemblyai.voice_agent import AssemblyAIVoiceAgent
from sipgw.agent.services.openai.realtime import OpenAIRealtime
from sipgw.agent.services.s2s.base import (
    CallerSpeechStarted,
    CallerTranscript,
    CallerTurnOver,
    ReplyAudio,
    ReplyDone,
    ReplyStarted,
    S2sConnectError,
    ServiceError,
    SessionFailed,
    SpeechToSpeech,
    ToolCallRequested,
)
from sipgw.media import g711
from sipgw.media.codecs import PCM16_16K, PCM16_24K, ULAW_8K
from sipgw.media.codecs.convert import Reformat
from sipgw.media.voice.vad import VoiceActivityDetector
from tests.agent.parts import FakeCall, settle
from tests.agent.s2s.parts import (
    LOUD,
    SILENCE,
    Rig,
    ScriptedSession,
    linear_tone,
    rig,
    speak,
)
from tests.toolkit.noisy_audio import background, mix, speech


async def test_prepare_configures_the_session_and_waits_for_the_greeting_audio() -> None:
    r = rig(answer_wait=2.0)
    prepared = asyncio.create_task(r.agent.prepare())
    await settle()
    config = r.session.config
    assert config is not None and config.greeting == "Hi there."
    assert config.instructions.startswith(AssistantSettings().system_prompt)
    assert "The current date and time is" in config.instructions
    assert {tool.name for tool in config.tools} >= {"end_call", "transfer_to_human"}
    assert not prepared.done()  # rings on until the greeting's audio is there
    speak(r.session, "g", 100, "Hi there.")
    await asyncio.wait_for(prepared, 1)
    assert r.ticks(2) == [None, None]  # held until the answer
    r.agent.on_answered()
    assert r.ticks(6) == [LOUD] * 5 + [None]
    await r.agent.close("remote-bye")
    assert r.session.closed
    assert r.agent.record.lines[-1]["type"] == "end"


async def test_no_greeting_audio_answers_after_the_answer_wait() -> None:
    r = rig(answer_wait=0.1)
    started = time.monotonic()
    await r.agent.prepare()
    assert 0.08 < time.monotonic() - started < 1.0
    await r.agent.close()


async def test_a_session_that_cannot_open_refuses_the_call() -> None:
    r = rig(refuse=S2sConnectError("HTTP 401 from the service", status=401))
    with pytest.raises(S2sConnectError):
        await r.agent.prepare()
    assert r.observer.events == [("error", ("s2s", "http_status"))]
    assert r.record("error")[0]["error"] == "HTTP 401 from the service"


async def test_the_service_hearing_the_caller_cuts_the_live_replies() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    speak(r.session, "r1", 200, "One two three four five six.")
    await settle()
    r.ticks(4)  # 80 ms of it went out
    r.session.push(CallerSpeechStarted(0.0))
    await settle()
    assert r.ticks(3) == [None] * 3
    assert r.session.sent == [("cancel", "r1", 80)]
    (barge,) = r.record("barge_in")
    assert barge["heard"] == "One two"  # 40 % of the audio: 11 of 28 characters
    assert ("barge_in", None) in r.observer.events
    r.session.push(CallerSpeechStarted(0.0))  # nothing live: nothing to cut
    await settle()
    assert len(r.record("barge_in")) == 1
    await r.agent.close()


async def test_the_local_vad_pauses_until_the_service_decides() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    r.caller([SILENCE] * 12)  # the detector learns the line's noise first
    speak(r.session, "r1", 2000)
    await settle()
    assert r.ticks(2) == [LOUD, LOUD]
    r.caller([LOUD] * 3)  # 60 ms of speech: paused at once ...
    assert r.ticks(2) == [None, None]
    r.caller([LOUD] * 40)  # ... and only paused: the service commits a barge-in
    assert r.session.sent == []
    r.caller([SILENCE] * 20)  # the caller stopped, the service said nothing: play on
    assert r.ticks(2) == [LOUD, LOUD]
    assert r.record("barge_in_resumed")
    await r.agent.close()


async def test_tool_calls_run_through_the_registry_and_their_results_go_back() -> None:
    r = rig()
    await r.agent.prepare()
    r.session.push(
        ReplyStarted("r1", 0.0),
        ToolCallRequested("r1", "c1", "get_order_status", '{"order_id": "1234"}'),
        ToolCallRequested("r1", "c2", "get_order_status", '{"order_id": 5}'),
    )
    for _ in range(50):
        await asyncio.sleep(0.01)
        if len(r.session.sent) == 2:
            break
    results = {call_id: output for _, call_id, output in r.session.sent}
    assert "shipped" in results["c1"]
    assert "invalid arguments" in results["c2"]  # the schema is checked before the handler
    lines = {line["id"]: line for line in r.record("tool_call")}
    assert lines["c1"]["ok"] and lines["c2"]["refused"] == "schema"
    await r.agent.close()


async def test_end_call_hangs_up_once_the_reply_after_the_tool_was_heard() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    r.session.push(ReplyStarted("r1", 0.0), ToolCallRequested("r1", "c1", "end_call", "{}"),
                   ReplyDone("r1", "completed", 0.0))  # fmt: skip
    await asyncio.sleep(0.05)
    speak(r.session, "r2", 100, "Goodbye!")
    await asyncio.sleep(0.05)
    assert not r.call.hangups
    r.ticks(5)  # the goodbye goes out ...
    await asyncio.sleep(0.05)
    assert r.call.hangups  # ... then the call ends
    (action,) = r.record("action")
    assert action["action"] == "hangup" and action["line"] == "reply"
    await r.agent.close()


async def test_keypad_digits_go_to_the_model_as_text() -> None:
    r = rig(dtmf_timeout=0.05)
    await r.agent.prepare()
    r.agent.on_dtmf("1")
    r.agent.on_dtmf("2")
    await asyncio.sleep(0.1)
    r.agent.on_dtmf("#")
    await asyncio.sleep(0.01)
    assert r.session.sent == [
        ("text", "[The caller pressed keypad keys: 1 2]"),
        ("text", "[The caller pressed keypad keys: #]"),
    ]
    await r.agent.close()


async def test_a_failed_session_is_replaced_with_the_conversation_so_far() -> None:
    r = rig()
    await r.agent.prepare()
    r.session.push(CallerTranscript("Where is my order?"))
    speak(r.session, "r1", 40, "It has shipped.")
    r.session.push(ServiceError("server_error", "boom"), SessionFailed("connection lost"))
    await asyncio.sleep(0.05)
    assert len(r.sessions) == 2
    config = r.session.config
    assert config is not None and config.greeting == ""
    assert config.instructions.endswith("Caller: Where is my order?\nYou: It has shipped.")
    assert r.session.sent == []  # the model is not asked to apologize: the caller heard it
    assert r.sessions[0].closed
    kinds = [line["type"] for line in r.agent.record.lines]
    assert kinds.index("s2s_failed") < kinds.index("s2s_recovered")
    assert ("error", ("s2s", "protocol")) in r.observer.events
    assert r.observer.decisions == ["llm_apology", "stt_lost", "stt_recovered"]
    (line,) = [line for line in r.record("assistant") if line["kind"] == "line"]
    assert (line["line"], line["source"]) == ("apology", "shipped")
    await r.agent.close()


async def test_when_no_new_session_opens_the_goodbye_is_played_and_the_agent_hangs_up() -> None:
    refusal = S2sConnectError("down")
    r = rig(more=lambda: ScriptedSession(refuse=refusal))
    await r.agent.prepare()
    r.agent.on_answered()
    r.session.push(SessionFailed("connection lost"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if r.record("s2s_unavailable"):
            break
    assert r.record("s2s_unavailable") and not r.call.hangups  # the goodbye plays first
    assert len(r.sessions) == 3  # the first, and two attempts
    assert r.observer.decisions[-1] == "stt_failed_goodbye"
    while r.agent.playout.pending:
        r.ticks(50)
        await settle()
    await settle()
    assert r.call.hangups == 1
    assert [line["line"] for line in r.record("assistant") if line["kind"] == "line"] == [
        "apology", "goodbye",
    ]  # fmt: skip
    await r.agent.close()


async def test_the_drains_goodbye_is_said_and_waited_for() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    goodbye = asyncio.create_task(r.agent.say_goodbye("We are closing. Goodbye."))
    await settle()
    assert r.session.sent == [
        ("reply", 'Say exactly this to the caller and nothing else: "We are closing. Goodbye."')
    ]
    speak(r.session, "bye", 60, "We are closing. Goodbye.")
    await settle()
    assert not goodbye.done()
    r.ticks(3)
    await asyncio.wait_for(goodbye, 1)
    await r.agent.close()


async def test_the_caller_context_replaces_the_instructions_when_it_answers() -> None:
    async def lookup(caller: str, called: str) -> dict[str, object]:
        await asyncio.sleep(0.02)
        return {"Name": "Ada"}

    r = rig(caller_context=CallerContextSettings(lookup, timeout=1.0))
    await r.agent.prepare()
    await asyncio.sleep(0.1)
    (update,) = r.session.sent
    assert update[0] == "instructions" and update[1].endswith("Name: Ada")
    assert r.record("caller_context") == [{"t": r.record("caller_context")[0]["t"],
                                           "type": "caller_context", "found": True}]  # fmt: skip
    await r.agent.close()


async def test_a_reply_is_measured_from_the_callers_end_of_speech() -> None:
    r = rig()
    await r.agent.prepare()
    r.agent.on_answered()
    r.caller([SILENCE] * 12 + [LOUD] * 10 + [SILENCE] * 5)
    speak(r.session, "r1", 60)
    await settle()
    r.ticks(1)
    await settle()
    (metrics,) = r.record("turn_metrics")
    assert metrics["end_of_speech_to_first_rtp_ms"] is not None
    assert metrics["first_rtp_after_tts_ms"] is not None
    assert r.observer.events[-1][0] == "turn"
    await r.agent.close()


async def test_a_failed_reply_gets_the_apology_from_memory_and_then_the_call_moves_on() -> None:
    r = rig()
    await r.agent.prepare()
    for reply_id in ("f1", "f2"):
        r.session.push(ReplyStarted(reply_id, 0.0), ReplyDone(reply_id, "failed", 0.0, "boom"))
    await settle()
    assert r.session.sent == []  # the model is not asked: it may be what failed
    assert r.observer.decisions == ["llm_apology", "llm_apology"]
    speak(r.session, "ok", 40, "Sorry about that.")  # an answer: the count starts again
    for reply_id in ("f3", "f4", "f5"):
        r.session.push(ReplyStarted(reply_id, 0.0), ReplyDone(reply_id, "failed", 0.0, "boom"))
    await settle()
    assert r.observer.decisions[2:] == ["llm_apology", "llm_apology", "llm_down_goodbye"]
    assert [line["error"] for line in r.record("error")] == ["boom"] * 5
    lines = [line["line"] for line in r.record("assistant") if line["kind"] == "line"]
    assert lines == ["apology"] * 4 + ["goodbye"]
    await r.agent.close()


async def test_one_moment_covers_a_slow_reply_and_stops_when_its_audio_comes() -> None:
    """The service's end of turn starts the failure policy's wait (from the caller's last
    loud frame); "one moment" is the filler of the wait: cut (whole frames) when the
    answer's audio comes, not said at all when it is already there."""
    hold = FailurePolicySettings(hold_line_after=0.1)
    r = rig(failure_policy=hold)
    await r.agent.prepare()
    r.agent.on_answered()
    r.ticks(40)  # the greeting
    r.caller([LOUD] * 10 + [SILENCE] * 5)
    loop = asyncio.get_running_loop()
    r.session.push(CallerTurnOver(loop.time()))
    await asyncio.sleep(0.2)
    assert r.observer.decisions == ["hold_line"]
    assert [line["line"] for line in r.record("assistant") if line["kind"] == "line"] == [
        "one_moment"
    ]
    r.ticks(3)  # the line plays ...
    speak(r.session, "answer", 200, "Your order has shipped.")
    await settle()
    (stopped,) = r.record("filler_stopped")
    assert (stopped["line"], stopped["cut"]) == ("one_moment", True)
    frames = r.ticks(10)
    assert all(frame == LOUD for frame in frames)  # ... and the answer follows at once
    # The service ends a turn while the agent talks on (no cut): no reply is due.
    speak(r.session, "long", 2000, "A long story.", done=False)
    await settle()
    r.ticks(2)
    r.session.push(CallerTurnOver(loop.time()))
    await asyncio.sleep(0.2)
    assert r.observer.decisions == ["hold_line"]
    await r.agent.close()


async def _caller_waits(hold_line_after: float) -> tuple[Rig, float]:
    """A call past its greeting whose caller finished a turn (the service's end of turn):
    the rig, and the time of the caller's last loud frame."""
    r = rig(failure_policy=FailurePolicySettings(hold_line_after=hold_line_after))
    await r.agent.prepare()
    r.agent.on_answered()
    r.ticks(40)  # the greeting
    r.caller([LOUD] * 10 + [SILENCE] * 25)  # the detector hears the caller start and stop
    loop = asyncio.get_running_loop()
    last_word = loop.time()
    r.session.push(CallerTurnOver(last_word))
    await settle()
    return r, last_word


async def _room_cuts_the_reply(r: Rig, after: float) -> float:
    """``after`` seconds into the wait the model starts its reply (no audio yet) and the
    service hears the room (the call's detector hears nobody) and cuts it off; the service
    then ends the room's turn. Returns when the reply was cut."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(after)
    cut = loop.time()
    r.session.push(ReplyStarted("cut", cut), CallerSpeechStarted(cut))
    await settle()
    assert [line["cause"] for line in r.record("barge_in")] == ["speech"]
    await asyncio.sleep(0.1)
    r.session.push(CallerTurnOver(loop.time()))  # the room's turn: the model answers it
    await settle()
    return cut


async def test_a_reply_cut_before_its_audio_leaves_no_wait_behind() -> None:
    """The model starts a reply, the service hears the room and cuts it before its first
    audio: nothing is coming for the caller's turn, so its wait ends (ReplyCut); the room's
    turn waits anew, counted from the cut (speech that ends a turn after a cut ended after
    it), not from the caller's words: its answer at the model's usual pace gets no "one
    moment", though it comes later than ``hold_line_after`` after the caller's words."""
    r, last_word = await _caller_waits(0.6)
    loop = asyncio.get_running_loop()
    cut = await _room_cuts_the_reply(r, 0.4)
    await asyncio.sleep(max(0.0, last_word + 0.75 - loop.time()))
    speak(r.session, "answer", 200, "Your order has shipped.")
    await settle()
    answered = loop.time()
    assert answered - cut < 0.6 < answered - last_word  # the model was not slow
    assert r.observer.decisions == []
    assert [frame == LOUD for frame in r.ticks(10)] == [True] * 10
    await asyncio.sleep(0.3)
    assert r.observer.decisions == []
    await r.agent.close()


async def test_a_slow_model_after_a_cut_still_gets_one_moment() -> None:
    """The wait the cut ended starts again at the room's turn: a model that does not answer
    that turn within ``hold_line_after`` of the cut gets the line."""
    r, _ = await _caller_waits(0.6)
    loop = asyncio.get_running_loop()
    cut = await _room_cuts_the_reply(r, 0.4)
    await asyncio.sleep(max(0.0, cut + 0.45 - loop.time()))
    assert r.observer.decisions == []
    await asyncio.sleep(max(0.0, cut + 0.8 - loop.time()))
    assert r.observer.decisions == ["hold_line"]
    await r.agent.close()


async def test_a_reply_paused_over_speech_leaves_no_wait_behind() -> None:
    """The answer's audio is there, paused before its first frame by speech over it (the
    caller's, or the room's that the detector takes for theirs): that wait is the speech's,
    not the model's, so no "one moment" however long the speech goes on. A pause comes
    only with the detector's speech start (the caller speaks again: the wait ends), and
    the answer's first audio ends the wait too (ReplyReady)."""
    r, _ = await _caller_waits(0.3)
    speak(r.session, "answer", 400, "Your order has shipped.")
    await settle()
    r.caller([LOUD] * 10)  # over it before its first frame went out
    assert r.agent.playout.paused
    await asyncio.sleep(0.5)
    r.caller([LOUD] * 5)
    assert r.agent.playout.paused and r.observer.decisions == []
    r.caller([SILENCE] * 30)  # the speech ends: the answer plays
    assert not r.agent.playout.paused
    assert [frame == LOUD for frame in r.ticks(5)] == [True] * 5
    assert r.observer.decisions == []
    await r.agent.close()


async def test_a_call_ending_mid_reply_leaves_no_cycle_behind() -> None:
    gc.collect()
    gc.disable()
    try:
        r = rig()
        await r.agent.prepare()
        r.agent.on_answered()
        speak(r.session, "r1", 2000, done=False)  # still speaking at the hang-up
        r.agent.on_dtmf("1")  # and digits waiting
        await settle()
        await r.agent.close("remote-bye")
        del r
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        assert not [o for o in gc.garbage if isinstance(o, SpeechToSpeechAgent)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def ulaw_frames(samples: list[int]) -> list[bytes]:
    pcm = b"".join(max(-32768, min(32767, v)).to_bytes(2, "little", signed=True) for v in samples)
    ulaw = g711.linear_to_ulaw(pcm)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]


async def pauses_under(detector: DetectorKind, audio: list[bytes]) -> list[int]:
    """The frames of ``audio`` (from the caller, one per tick over a long reply) after
    which the agent's next frame was silence: its audio paused."""
    r = rig(server_turns=False, barge_in=BargeInSettings(noise=NoiseSettings(detector=detector)))
    await r.agent.prepare()
    r.agent.on_answered()
    speak(r.session, "r1", 20 * (len(audio) + 10))
    await settle()
    paused = []
    for i, frame in enumerate(audio):
        r.agent.on_caller_audio(frame)
        await asyncio.sleep(0)  # the model's batch runs in the loop's wake-up
        if r.ticks(1) == [None]:
            paused.append(i)
    detector_kind = type(r.agent.turns.vad).__name__
    await r.agent.close()
    assert (detector_kind == "ModelVoiceDetector") == (detector == "model")
    return paused


async def test_barge_in_uses_the_configured_voice_detector() -> None:
    """``SIPGW_VOICE_DETECTOR=model``: the local barge-in hears the caller's words, not the
    music on their side, which the energy detector takes for speech."""
    music = ulaw_frames(mix([0], background("music", 4.0), 0.0))  # -20 dBFS, as loud as a voice
    assert await pauses_under("energy", music)
    assert not await pauses_under("model", music)
    # The words from frame 125, past the 2 s of the agent's first audio that learn the room.
    words = mix(speech("Sorry, can I stop you there?"), [0] * 16000, 200.0)
    said = ulaw_frames([0] * 20000 + words)
    paused = await pauses_under("model", said)
    assert paused and 125 <= paused[0] <= 125 + 15  # within 300 ms
    assert isinstance(rig().agent.turns.vad, VoiceActivityDetector)  # the default's


# -- HD-voice calls ------------------------------------------------------------------


def hd_call() -> FakeCall:
    """A G.722 (or Opus) call: its codec carries 16 kHz."""
    return FakeCall(call_id="hd-call", details=CallDetails(sample_rate=16000))


def frames_of(audio: bytes, size: int) -> list[bytes]:
    return [audio[k : k + size] for k in range(0, len(audio) - size + 1, size)]


async def test_an_hd_voice_call_s_session_carries_24_khz_and_the_detectors_hear_8_khz() -> None:
    """The format is decided once: 24 kHz linear audio to and from the session (the media
    resamples from and to the codec's 16 kHz); the voice detector hears 8 kHz μ-law."""
    r = rig(call=hd_call(), wide=True, server_turns=False)
    assert r.agent.audio_format == PCM16_24K and r.agent.caller_format is None
    assert r.session.audio_format == PCM16_24K
    await r.agent.prepare()
    r.agent.on_answered()
    quiet = [bytes(960)] * 50  # the detector calibrates on the first second
    said = frames_of(linear_tone(300, 400), 960)
    r.caller(quiet + said)
    assert r.agent.turns.vad.speaking  # it heard the caller through the 8 kHz path
    vad = r.agent.turns.vad
    assert isinstance(vad, VoiceActivityDetector)
    assert vad.level_dbfs == pytest.approx(-15, abs=0.5)  # at their level
    r.caller([bytes(960)] * 5)
    assert bytes(r.session.audio) == b"".join(quiet + said) + bytes(960 * 5)  # unchanged
    reply = linear_tone(700, 200)
    now = asyncio.get_running_loop().time()
    r.session.push(ReplyStarted("r1", now), ReplyAudio("r1", reply, now),
                   ReplyDone("r1", "completed", now))  # fmt: skip
    await settle()
    played = [f for f in r.ticks(15) if f is not None]
    assert all(len(f) == 960 for f in played)
    assert b"".join(played) == reply
    r.agent.on_hold(True)
    before = len(r.session.audio)
    r.caller(said[:3])
    assert bytes(r.session.audio[before:]) == bytes(960 * 3)  # silence, in its format
    await r.agent.close()


async def test_the_session_that_replaces_a_failed_one_carries_the_call_s_format() -> None:
    r = rig(call=hd_call(), wide=True)
    await r.agent.prepare()
    r.agent.on_answered()
    r.session.push(SessionFailed("connection lost"))
    for _ in range(100):
        if len(r.sessions) == 2 and r.session.config is not None:
            break
        await asyncio.sleep(0.01)
    assert len(r.sessions) == 2 and r.session.audio_format == PCM16_24K
    await r.agent.close()


async def test_narrowband_calls_and_sessions_without_24_khz_stay_mu_law() -> None:
    for r in (rig(wide=True), rig(call=hd_call())):
        assert r.agent.audio_format == ULAW_8K
        assert r.session.audio_format == ULAW_8K
        await r.agent.close()


def test_an_hd_call_handed_over_is_carried_at_24_khz_unless_told_to_keep_the_format() -> None:
    """A line taking an HD call over opens its session at 24 kHz whatever the handing agent
    took (μ-law from an assistant without 16 kHz vendors, 16 kHz from one with them): the
    call's media converts at the switch. With ``keep_handed`` (SIPGW_S2S_HANDOVER_FORMAT=keep)
    it keeps the handing agent's format when its session carries it."""

    class Session:
        audio_formats = frozenset({ULAW_8K, PCM16_24K})

    session = cast(SpeechToSpeech, Session())
    assert session_format(16000, session) == PCM16_24K
    for handed in (ULAW_8K, PCM16_16K, PCM16_24K):
        assert session_format(16000, session, handed) == PCM16_24K
    assert session_format(16000, session, ULAW_8K, keep_handed=True) == ULAW_8K
    assert session_format(16000, session, PCM16_24K, keep_handed=True) == PCM16_24K
    # 16 kHz: not one the session carries, so even kept it is 24 kHz
    assert session_format(16000, session, PCM16_16K, keep_handed=True) == PCM16_24K
    for service in (OpenAIRealtime, AssemblyAIVoiceAgent):  # realtime, voice-agent
        assert service.audio_formats == Session.audio_formats
    for keep in (False, True):  # a narrowband call stays μ-law
        assert session_format(8000, session, PCM16_16K, keep_handed=keep) == ULAW_8K
        assert session_format(8000, session, ULAW_8K, keep_handed=keep) == ULAW_8K
        assert session_format(8000, session, keep_handed=keep) == ULAW_8K

    class NarrowSession:
        audio_formats = frozenset({ULAW_8K})

    narrow = cast(SpeechToSpeech, NarrowSession())
    assert session_format(16000, narrow, ULAW_8K) == ULAW_8K


# -- noise suppression (SIPGW_NOISE_SUPPRESSION) --------------------------------------


def suppressing(on: bool) -> BargeInSettings:
    # the energy detector: these callers "speak" tones, no voice to a speech model
    return BargeInSettings(noise=NoiseSettings(suppression=on, detector="energy"))


def level_db(ulaw: bytes) -> float:
    """The RMS of μ-law audio, in dBFS."""
    samples = memoryview(g711.ulaw_to_linear(ulaw)).cast("h")
    mean = sum(s * s for s in samples) / max(1, len(samples))
    return 10 * math.log10(max(mean, 1.0) / 32768**2)


async def heard_by_session(frames: list[bytes], on: bool) -> tuple[bytes, float]:
    """What the session got of ``frames`` (a G.711 call), and the level of the last frame
    the voice detector heard."""
    r = rig(server_turns=False, barge_in=suppressing(on))
    await r.agent.prepare()
    r.agent.on_answered()
    r.caller(frames)
    vad = r.agent.turns.vad
    assert isinstance(vad, VoiceActivityDetector)
    got = bytes(r.session.audio)
    await r.agent.close()
    return got, vad.level_dbfs


async def test_with_suppression_off_the_session_gets_the_caller_s_frames_unchanged() -> None:
    noise = ulaw_frames(mix([0], background("pink", 1.0), 0.0))
    got, _ = await heard_by_session(noise, on=False)
    assert got == b"".join(noise)


async def test_with_suppression_on_steady_noise_is_reduced_for_the_session_and_detector() -> None:
    """Pink noise at -20 dBFS under a silent caller: after RNNoise's first second the
    session gets it 10 dB down or more, and the voice detector hears the same frames."""
    noise = ulaw_frames(mix([0], background("pink", 3.0), 0.0))
    sent = b"".join(noise)
    got, detector_db = await heard_by_session(noise, on=True)
    assert len(got) == len(sent)
    tail = slice(8000, None)  # after the first second
    assert level_db(got[tail]) < level_db(sent[tail]) - 10, (level_db(got), level_db(sent))
    _, unsuppressed_db = await heard_by_session(noise, on=False)
    assert detector_db < unsuppressed_db - 10, (detector_db, unsuppressed_db)


async def test_with_suppression_on_speech_passes_to_the_session() -> None:
    """A voice that keeps its fundamental (a digital line) passes within 3 dB."""
    said = mix(speech("One moment, please.", low_hz=100), [0] * 12000, 200.0)
    frames = ulaw_frames(said)
    sent = b"".join(frames)
    got, _ = await heard_by_session(frames, on=True)
    assert abs(level_db(got[4000:]) - level_db(sent[4000 : len(got)])) < 3.0


async def test_on_an_hd_voice_call_suppression_cleans_the_detector_s_copy_only() -> None:
    """RNNoise takes 8 kHz μ-law: on an HD-voice call the session gets the caller's 24 kHz
    as it came (as the assistant's wideband STT does); the detector's 8 kHz copy is cleaned."""
    widen = Reformat(ULAW_8K, PCM16_24K)
    noise = [widen.convert(f) for f in ulaw_frames(mix([0], background("pink", 3.0), 0.0))]
    levels = []
    for on in (True, False):
        r = rig(call=hd_call(), wide=True, server_turns=False, barge_in=suppressing(on))
        await r.agent.prepare()
        r.agent.on_answered()
        r.caller(noise)
        assert bytes(r.session.audio) == b"".join(noise)  # unchanged either way
        vad = r.agent.turns.vad
        assert isinstance(vad, VoiceActivityDetector)
        levels.append(vad.level_dbfs)
        await r.agent.close()
    assert levels[0] < levels[1] - 10, levels


async def test_a_frame_after_the_close_is_dropped() -> None:
    """The suppressor's state is freed at the close: a late frame is not heard."""
    r = rig(barge_in=suppressing(True))
    await r.agent.prepare()
    await r.agent.close()
    r.caller([LOUD])
    assert not r.session.audio
