"""``<Record>`` through the agent, against an app on the official ``twilio`` SDK: the beep,
the caller's speech until silence or a key, the WAV written privately, its URL, length and
SID posted to the action (signed) with the status callback, silence falling through, a
hang-up mid-recording posted with ``Digits=hangup``, and no directory refused."""

from __future__ import annotations

import asyncio
import email.utils
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from twilio.twiml.voice_response import VoiceResponse

from sipgw.agent.twiml.audiofile import decode_audio
from sipgw.agent.twiml.recording import BEEP, BridgeRecorder, Recorder, interleave, ulaw_wav
from tests.agent.parts import SILENT_FRAME, speech_frames, wait_for
from tests.agent.twiml.test_gather import (
    TOKEN,
    Caller,
    answers,
    end_call,
    hangup,
    posted,
    start_call,
)
from tests.toolkit.twilio_app import TwilioSdkApp

BASE = "https://media.example/recordings"


@pytest.fixture
async def app() -> AsyncIterator[TwilioSdkApp]:
    peer = TwilioSdkApp(TOKEN)
    await peer.start()
    yield peer
    await peer.stop()


def record_twiml(**attrs: object) -> VoiceResponse:
    response = VoiceResponse()
    response.record(action="/recorded", **attrs)
    response.say("after the record")
    return response


async def test_the_callers_words_are_recorded_until_silence_and_posted(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    app.twiml = answers(  # type: ignore[assignment]
        record_twiml(
            timeout=1,
            recording_status_callback="/status",
            recording_status_callback_event="in-progress completed",
        ),
        recorded=hangup(),
    )
    caller = Caller()
    caller.say([SILENT_FRAME] * 40 + speech_frames(1.0))  # the beep, then 1 s of words
    agent, call, ticker = await start_call(
        app, caller, recording_dir=tmp_path / "rec", recording_url=BASE
    )
    await end_call(agent, call, ticker)
    heard = b"".join(ticker.heard())
    assert heard.startswith(BEEP)
    (action,) = posted(app, "/recorded")
    assert action.valid
    sid = action.params["RecordingSid"]
    assert sid.startswith("RE") and len(sid) == 34
    assert action.params["RecordingUrl"] == f"{BASE}/{sid}"
    assert action.params["RecordingDuration"] == "1" and action.params["Digits"] == ""
    wav = tmp_path / "rec" / f"{sid}.wav"
    assert stat.S_IMODE(wav.stat().st_mode) == 0o600
    audio = decode_audio(wav.read_bytes(), "audio/wav")
    assert abs(len(audio) / 8000 - 1.0) <= 0.1  # trimmed: the words, not the silence
    started, status = posted(app, "/status")  # in-progress as it starts, then completed
    assert started.valid and started.params["RecordingStatus"] == "in-progress"
    assert started.params["RecordingSid"] == sid and "RecordingUrl" not in started.params
    assert status.valid and status.params["RecordingStatus"] == "completed"
    assert status.params["RecordingSid"] == sid
    # when the recording began (RFC 2822, as Twilio's): seconds before the post, not empty
    began = email.utils.parsedate_to_datetime(status.params["RecordingStartTime"])
    assert 0 <= time.time() - began.timestamp() <= 30
    assert agent.steps == ["record", "fetch <Record action>", "end hangup"]


async def test_a_key_ends_it_and_silence_alone_falls_through(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    response = VoiceResponse()
    response.record(action="/silent", timeout=1, play_beep=False,  # nothing said: on
                    recording_status_callback="/rstatus",
                    recording_status_callback_event="absent completed")  # fmt: skip
    response.record(action="/recorded", finish_on_key="#", timeout=0, play_beep=False)
    app.twiml = answers(response, recorded=hangup())  # type: ignore[assignment]
    caller = Caller()
    agent, call, ticker = await start_call(app, caller, recording_dir=tmp_path, recording_url=BASE)
    await wait_for(lambda: agent.steps.count("record") == 2, within=5)
    caller.say(speech_frames(0.6))
    await asyncio.sleep(1.0)
    agent.on_dtmf("5")  # not a finish key here
    agent.on_dtmf("#")
    await end_call(agent, call, ticker)
    assert not posted(app, "/silent")
    (absent,) = posted(app, "/rstatus")  # the silent one: absent, no file, no URL
    assert absent.valid and absent.params["RecordingStatus"] == "absent"
    assert absent.params["RecordingSid"].startswith("RE") and "RecordingUrl" not in absent.params
    (action,) = posted(app, "/recorded")
    assert action.params["Digits"] == "#"
    assert len(await asyncio.to_thread(lambda: list(tmp_path.glob("RE*.wav")))) == 1


async def test_a_hangup_mid_recording_posts_it_with_digits_hangup(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    app.twiml = answers(record_twiml(timeout=0, play_beep=False))  # type: ignore[assignment]
    caller = Caller()
    agent, call, ticker = await start_call(app, caller, recording_dir=tmp_path, recording_url=BASE)
    await wait_for(lambda: agent.verbs.record.recording is not None, within=5)
    caller.say(speech_frames(0.6))
    await asyncio.sleep(0.8)
    await ticker.stop()
    await agent.close("remote-bye")
    await wait_for(lambda: posted(app, "/recorded"), within=5)
    await asyncio.sleep(0.3)  # a second post would be there by now
    (action,) = posted(app, "/recorded")
    assert len(await asyncio.to_thread(lambda: list(tmp_path.glob("RE*.wav")))) == 1
    assert action.valid and action.params["Digits"] == "hangup"
    assert action.params["CallStatus"] == "completed"


async def test_without_a_recording_directory_it_is_refused(app: TwilioSdkApp) -> None:
    app.twiml = answers(record_twiml())  # type: ignore[assignment]
    agent, call, ticker = await start_call(app)
    await end_call(agent, call, ticker)
    refused = [x for x in agent.record.lines if x["type"] == "twiml_refused"]
    assert [x["verb"] for x in refused] == ["Record", "Say"]  # then the next verb (no TTS)


def test_the_recorder_ends_on_silence_length_or_key_and_trims() -> None:
    words, quiet = speech_frames(0.4), [SILENT_FRAME] * 10
    recorder = Recorder(timeout=0.3, max_length=60)
    assert not any(recorder.frame(f) for f in quiet + words + quiet + quiet[:4])
    assert recorder.frame(SILENT_FRAME) and recorder.ended_by == "silence"  # 0.3 s quiet
    assert recorder.audio(trim=True) == b"".join(words)
    assert len(recorder.audio(trim=False)) == 160 * (10 + len(words) + 15)
    capped = Recorder(timeout=0, max_length=0.1)
    assert [capped.frame(SILENT_FRAME) for _ in range(5)][-1] and capped.ended_by == "max-length"
    keyed = Recorder(timeout=0, max_length=60, finish_on_key="*")
    assert not keyed.key("1") and keyed.key("*") and keyed.key_pressed == "*"


def test_a_bridge_recording_lines_up_both_sides_in_two_channels_or_mixed() -> None:
    a, b = b"\x10" * 160, b"\x90" * 160
    dual = BridgeRecorder(dual=True)
    for _ in range(3):
        dual.caller_frame(a)
        dual.called_frame(b)
    dual.caller_frame(None)  # a tick the caller sent nothing: silence
    assert dual.channels == 2 and dual.seconds == 0.08
    audio = dual.audio()
    assert len(audio) == 2 * 4 * 160
    assert audio[0:2] == b"\x10\x90" and audio[-2:] == b"\xff\xff"  # the called side padded
    mixed = BridgeRecorder(dual=False)
    mixed.caller_frame(a)
    mixed.called_frame(SILENT_FRAME)
    assert mixed.channels == 1 and mixed.audio() == a  # silence adds nothing
    capped = BridgeRecorder(dual=True, max_seconds=0.04)
    for _ in range(5):
        capped.caller_frame(a)
    assert capped.seconds == 0.04


def test_a_bridge_recording_keeps_the_track_asked_for_and_trims_silence() -> None:
    """``recordingTrack``: ``inbound`` the caller only, ``outbound`` the called party
    only, one channel even with ``-dual``; ``trim``: the frames silent on every kept side
    before the first sound and after the last are cut."""
    a, b = b"\x10" * 160, b"\x90" * 160
    sides = [(SILENT_FRAME, SILENT_FRAME), (a, SILENT_FRAME), (SILENT_FRAME, b),
             (SILENT_FRAME, SILENT_FRAME)]  # fmt: skip

    def recorded(**kw: object) -> BridgeRecorder:
        recorder = BridgeRecorder(**kw)  # type: ignore[arg-type]
        for mine, theirs in sides:
            recorder.caller_frame(mine)
            recorder.called_frame(theirs)
        return recorder

    inbound = recorded(dual=True, track="inbound")
    assert inbound.channels == 1 and inbound.audio() == b"".join(s[0] for s in sides)
    outbound = recorded(dual=False, track="outbound", trim=True)
    assert outbound.channels == 1 and outbound.audio() == b  # only its one loud frame
    both = recorded(dual=True, trim=True)
    assert both.channels == 2 and both.seconds == 0.04  # the two loud frames, not the ends
    assert both.audio() == interleave(a + SILENT_FRAME, SILENT_FRAME + b)
    untrimmed = recorded(dual=False)
    assert untrimmed.seconds == 0.08
    quiet = BridgeRecorder(dual=True, trim=True)
    quiet.caller_frame(SILENT_FRAME)
    assert quiet.audio() == b"" and quiet.seconds == 0  # nothing heard: nothing kept


def test_interleave_and_the_two_channel_wav_header() -> None:
    assert interleave(b"ab", b"AB") == b"aAbB"
    with pytest.raises(ValueError, match="channels of 2 and 1"):
        interleave(b"ab", b"A")
    wav = ulaw_wav(b"aAbB", channels=2)
    assert wav[20:24] == b"\x07\x00\x02\x00"  # μ-law, two channels
    assert wav[24:28] == (8000).to_bytes(4, "little")  # samples a second
    assert wav[28:32] == (16000).to_bytes(4, "little")  # octets a second
    assert wav[32:34] == b"\x02\x00"  # a frame of two octets
    assert wav[wav.index(b"fact") + 8 : wav.index(b"fact") + 12] == (2).to_bytes(4, "little")


async def test_transcribe_posts_the_recordings_text_to_its_callback(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    """``transcribeCallback`` (implying ``transcribe``): the WAV fed to the AssemblyAI fake
    at real time (faster is refused with 3007), the text posted and written beside it."""
    from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
    from tests.agent.twiml.test_gather import STT_KEY, stt_of

    stt = await FakeAssemblyAI(api_key=STT_KEY).start()
    stt.script(["Please call me back tomorrow."])
    try:
        app.twiml = answers(  # type: ignore[assignment]
            record_twiml(timeout=1, transcribe_callback="/transcribed"), recorded=hangup()
        )
        caller = Caller()
        caller.say([SILENT_FRAME] * 40 + speech_frames(1.0))
        agent, call, ticker = await start_call(
            app, caller, recording_dir=tmp_path / "rec", recording_url=BASE, stt=stt_of(stt)
        )
        await end_call(agent, call, ticker)
        await wait_for(lambda: posted(app, "/transcribed"), within=8)
    finally:
        await stt.aclose()
    (action,) = posted(app, "/recorded")
    (callback,) = posted(app, "/transcribed")
    assert callback.valid
    form = callback.params
    assert form["TranscriptionStatus"] == "completed"
    assert form["TranscriptionText"] == "Please call me back tomorrow."
    assert form["RecordingSid"] == action.params["RecordingSid"]
    assert form["RecordingUrl"] == action.params["RecordingUrl"]
    tr = form["TranscriptionSid"]
    assert tr.startswith("TR") and form["TranscriptionUrl"] == f"{BASE}/{tr}.txt"
    text = tmp_path / "rec" / f"{tr}.txt"
    assert text.read_text() == "Please call me back tomorrow."
    assert stat.S_IMODE(text.stat().st_mode) == 0o600
    (session,) = stt.sessions
    assert session.violation is None and session.audio_seconds >= 0.8  # not too fast


async def test_transcribe_without_a_speech_to_text_posts_failed(
    app: TwilioSdkApp, tmp_path: Path
) -> None:
    app.twiml = answers(  # type: ignore[assignment]
        record_twiml(timeout=1, transcribe=True, transcribe_callback="/transcribed"),
        recorded=hangup(),
    )
    caller = Caller()
    caller.say([SILENT_FRAME] * 40 + speech_frames(1.0))
    agent, call, ticker = await start_call(
        app, caller, recording_dir=tmp_path / "rec", recording_url=BASE
    )
    await end_call(agent, call, ticker)
    await wait_for(lambda: posted(app, "/transcribed"), within=5)
    (callback,) = posted(app, "/transcribed")
    assert callback.params["TranscriptionStatus"] == "failed"
    assert callback.params["TranscriptionText"] == ""
