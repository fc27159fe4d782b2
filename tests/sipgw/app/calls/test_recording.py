"""Call recording: the stereo WAV's channels and alignment, its modes, retention, a real call."""

from __future__ import annotations

import asyncio
import math
import os
import re
import stat
import struct
import time
import wave
from array import array
from datetime import UTC, datetime
from pathlib import Path

from sipgw.app.calls.recording import CallRecorder, delete_expired, recording_name
from sipgw.app.evaluation.audio import dominant_tone, tone_frames, tone_share
from sipgw.app.legs.settings import LegsSettings
from sipgw.app.settings import OperationsSection
from sipgw.foundation.settings import Sources, load
from sipgw.media import g711
from sipgw.media.codecs import PCM16_16K, PCM16_24K, ULAW_8K
from tests.sipgw.app.admin.legs_admin import admin_with_legs
from tests.toolkit.fakes.twilio import call_the_webhook
from tests.toolkit.gateway_in_process import running_gateway

TICK = 160


def _channels(path: Path) -> tuple[list[int], list[int]]:
    """Left and right samples of a 16-bit stereo 8 kHz WAV."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    return list(samples[0::2]), list(samples[1::2])


def _ticks(channel: list[int]) -> list[list[int]]:
    return [channel[i : i + TICK] for i in range(0, len(channel), TICK)]


def _encode(samples: list[int]) -> bytes:
    return g711.linear_to_ulaw(struct.pack(f"<{len(samples)}h", *samples))


def test_channels_stay_aligned_with_silence_for_gaps(tmp_path: Path) -> None:
    caller = tone_frames(400, 0.2)  # 10 frames
    agent = tone_frames(1000, 0.2)
    recorder = CallRecorder.start(tmp_path / "rec", datetime(2025, 3, 1, tzinfo=UTC))
    # ticks 0-9: caller only; 10-14: nobody; 15-24: agent only; 25-29: both.
    for i in range(30):
        left_frame = caller[i] if i < 10 else caller[i - 25] if i >= 25 else None
        right_frame = agent[i - 15] if 15 <= i < 25 else agent[i - 25] if i >= 25 else None
        recorder.tick(left_frame, right_frame)
    recorder.close()
    assert re.fullmatch(r"20250301-000000-[0-9a-f]{12}\.wav", recorder.path.name)
    left, right = _channels(recorder.path)
    assert len(left) == len(right) == 30 * TICK  # both advanced every tick
    lt, rt = _ticks(left), _ticks(right)
    for i in range(30):
        caller_on, agent_on = i < 10 or i >= 25, 15 <= i
        assert (max(map(abs, lt[i])) > 1000) == caller_on, i
        assert (max(map(abs, rt[i])) > 1000) == agent_on, i
        if caller_on:
            assert tone_share(_encode(lt[i]), 400) > 0.9
        if agent_on:
            assert tone_share(_encode(rt[i]), 1000) > 0.9
    # The decoded samples are exactly the μ-law frames' (no resampling, no gain).
    assert _encode(lt[3]) == caller[3] and _encode(rt[16]) == agent[1]
    assert not any(lt[12]) and not any(rt[12])  # silence is zero


def test_a_recording_of_more_channels_keeps_each_in_its_place(tmp_path: Path) -> None:
    """A SIPREC session's WAV (sipgw.app.srs.streams): one channel per stream."""
    tones = (400, 700, 1100)
    frames = [tone_frames(hz, 0.1) for hz in tones]  # 5 frames each
    recorder = CallRecorder.start(tmp_path / "rec", channels=3)
    for i in range(5):
        recorder.tick_channels([frames[0][i], None, frames[2][i]])  # the second: silent
    recorder.tick(frames[0][0], frames[1][0])  # the caller/agent form: the third silent
    recorder.close()
    with wave.open(str(recorder.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getnframes()) == (3, 6 * TICK)
        data = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    first, second, third = (list(samples[n::3]) for n in range(3))
    assert _encode(first[:TICK]) == frames[0][0] and _encode(third[:TICK]) == frames[2][0]
    assert not any(second[: 5 * TICK]) and not any(third[5 * TICK :])
    assert _encode(second[5 * TICK :]) == frames[1][0]


def test_an_hd_voice_call_is_recorded_at_16_khz(tmp_path: Path) -> None:
    """Issue 43: the assistant on a G.722 call hears 16 kHz s16le and speaks 8 kHz μ-law:
    the file is 16 kHz, the agent's side resampled up, both a tick a tick."""
    recorder = CallRecorder(tmp_path / "hd.wav", PCM16_16K, ULAW_8K)
    caller = array("h", (int(8000 * math.sin(2 * math.pi * 3000 * n / 16000))
                         for n in range(320 * 10)))  # fmt: skip  # 3 kHz: wideband only
    for i, agent in enumerate(tone_frames(400, 0.2)):
        recorder.tick(caller[i * 320 : (i + 1) * 320].tobytes(), agent)
    recorder.close()
    with wave.open(str(recorder.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (2, 16000, 3200)
        data = array("h", wav.readframes(wav.getnframes()))
    left, right = data[0::2], data[1::2]
    assert left[:3200] == caller  # the caller's samples as they came
    assert max(map(abs, right[640:])) > 1000  # the agent's tone, at 16 kHz


def sine(hz: float, frames: int, rate: int) -> list[bytes]:
    """20 ms s16le frames of a sine at ``rate``."""
    size = rate // 50
    samples = array("h", (int(8000 * math.sin(2 * math.pi * hz * n / rate))
                          for n in range(size * frames)))  # fmt: skip
    return [samples[k * size : (k + 1) * size].tobytes() for k in range(frames)]


def test_a_hand_off_to_an_agent_of_other_formats_goes_on_in_the_same_file(
    tmp_path: Path,
) -> None:
    """A 16 kHz assistant hands an HD-voice call to a 24 kHz speech-to-speech agent: the
    file stays 16 kHz, each side converted from its new format, a tick a tick."""
    recorder = CallRecorder(tmp_path / "hd.wav", PCM16_16K, PCM16_16K)
    for caller, agent in zip(sine(3000, 10, 16000), sine(1000, 10, 16000), strict=True):
        recorder.tick(caller, agent)
    recorder.use_formats(PCM16_24K, PCM16_24K)
    assert recorder.formats == (PCM16_24K, PCM16_24K)
    for caller, agent in zip(sine(3000, 10, 24000), sine(1000, 10, 24000), strict=True):
        recorder.tick(caller, agent)
    recorder.use_formats(ULAW_8K, ULAW_8K)  # then an 8 kHz μ-law line's agent
    for caller in tone_frames(400, 0.2):
        recorder.tick(caller, None)
    recorder.close()
    with wave.open(str(recorder.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (2, 16000, 9600)
        data = array("h", wav.readframes(wav.getnframes()))
    left, right = data[0::2], data[1::2]
    for side, hz in ((left, 3000), (right, 1000)):
        for tick in range(2, 20):  # each tick is 20 ms of the tone, across the change
            frame = side[tick * 320 : (tick + 1) * 320]
            zero = sum(1 for a, b in zip(frame, frame[1:], strict=False) if (a < 0) != (b < 0))
            assert abs(zero - 2 * hz * 0.02) <= 2, (tick, zero)
    assert max(map(abs, left[21 * 320 :])) > 1000 and not any(right[21 * 320 :])


def test_a_short_frame_is_padded_to_the_tick(tmp_path: Path) -> None:
    recorder = CallRecorder.start(tmp_path)
    recorder.tick(tone_frames(400, 0.02)[0][:80], None)
    recorder.close()
    left, right = _channels(recorder.path)
    assert len(left) == TICK and not any(left[80:]) and any(left[:80])


def test_files_are_owner_only_in_an_owner_only_directory(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        recorder = CallRecorder.start(tmp_path / "a" / "rec")
        recorder.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(recorder.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(recorder.path.parent.stat().st_mode) == 0o700
    # two calls starting in the same second get a file each (nothing in a name is the
    # caller's: a chosen Call-ID cannot make two calls share one)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    first = CallRecorder.start(tmp_path / "b", when)
    second = CallRecorder.start(tmp_path / "b", when)
    first.close()
    second.close()
    assert first.path != second.path


def test_written_as_it_goes_not_held_in_memory(tmp_path: Path) -> None:
    recorder = CallRecorder.start(tmp_path)
    frame = tone_frames(400, 0.02)[0]
    for _ in range(500):  # 10 s
        recorder.tick(frame, frame)
    size_before_close = recorder.path.stat().st_size
    recorder.close()
    assert size_before_close >= 500 * 4 * TICK - 8192  # all but the file buffer is on disk
    assert recorder.path.stat().st_size == 44 + 500 * 4 * TICK
    recorder.tick(frame, frame)  # after close: ignored
    assert recorder.ticks == 500


def test_retention_deletes_old_recordings_only(tmp_path: Path) -> None:
    now = time.time()
    old = tmp_path / recording_name(datetime(2020, 1, 1, tzinfo=UTC))
    fresh = tmp_path / recording_name(datetime.now(UTC))
    other = tmp_path / "notes.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"x")
    os.utime(old, (now - 31 * 86400, now - 31 * 86400))
    os.utime(other, (now - 90 * 86400, now - 90 * 86400))
    os.utime(fresh, (now - 29 * 86400, now - 29 * 86400))
    assert delete_expired(tmp_path, 30, now) == [old]
    assert not old.exists() and fresh.exists() and other.exists()
    assert delete_expired(tmp_path, 0, now + 10**9) == []  # 0 keeps everything
    assert delete_expired(tmp_path / "missing", 30) == []


def test_recording_settings() -> None:
    ops = load(OperationsSection, Sources())
    assert ops.record_dir == "" and ops.record_retention_days == 30
    env = {"SIPGW_RECORD_DIR": "/r", "SIPGW_RECORD_RETENTION_DAYS": "7"}
    ops = load(OperationsSection, Sources(env))
    assert ops.record_dir == "/r" and ops.record_retention_days == 7


async def test_an_echo_call_is_recorded_caller_left_echo_right(tmp_path: Path) -> None:
    record_dir = tmp_path / "recordings"
    record_dir.mkdir(mode=0o700)
    expired = record_dir / "20200101-000000-old.wav"
    expired.write_bytes(b"x")
    os.utime(expired, (time.time() - 40 * 86400,) * 2)
    async with running_gateway(record_dir=str(record_dir)) as (gateway, new_phone):
        assert not expired.exists()  # retention ran at start
        caller = await new_phone()
        assert (await caller.invite()).status == 200
        frames = tone_frames(1000, 1.0)
        await caller.play(frames)
        await asyncio.sleep(0.6)
        assert await caller.bye()
        await asyncio.sleep(0.1)
        assert not gateway.handles
    (path,) = record_dir.glob("*.wav")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    left, right = _channels(path)
    lt, rt = _ticks(left), _ticks(right)
    loud_left = [i for i, t in enumerate(lt) if max(map(abs, t)) > 1000]
    loud_right = [i for i, t in enumerate(rt) if max(map(abs, t)) > 1000]
    assert len(loud_left) >= 45 and len(loud_right) >= 45
    # each channel has its side: the caller's 1 kHz left, the echo of it right
    assert dominant_tone(_encode(lt[loud_left[5]]), (400, 1000, 2000)) == 1000
    assert dominant_tone(_encode(rt[loud_right[5]]), (400, 1000, 2000)) == 1000
    # the echo starts 200 ms (10 ticks) after the caller's audio, plus a tick or two
    delay = loud_right[0] - loud_left[0]
    assert 9 <= delay <= 13, (loud_left[0], loud_right[0])
    # and is the caller's audio, bit-exact, shifted by that delay
    assert _encode(rt[loud_right[0] + 3]) == _encode(lt[loud_left[0] + 3])


async def test_a_twilio_call_is_recorded_like_any_call(tmp_path: Path) -> None:
    """docs/legs.md: a call of any leg "is recorded (SIPGW_RECORD_DIR) like any call"."""
    record_dir = tmp_path / "recordings"
    token, public = "twilio-auth-token", "https://gw.example.test"
    legs = LegsSettings(twilio_auth_token=token, public_url=public)
    async with (
        running_gateway(record_dir=str(record_dir)) as (gateway, _),
        admin_with_legs(gateway, legs, "admin-token-for-recording") as (server, http),
    ):
        form = {"CallSid": "CA" + "5" * 32, "From": "+15551230001", "To": "+15557650002"}
        answer = await call_the_webhook(
            http, f"{server.url}/twilio/voice", token, f"{public}/twilio/voice", form
        )
        local = server.url.replace("http://", "ws://") + "/twilio/stream"
        async with answer.stream(
            local, token, audio=b"".join(tone_frames(1000, 1.0))
        ) as call:  # fmt: skip
            await call.wait_for(lambda: call.heard_seconds() >= 0.7, 10)
        for _ in range(250):  # the stream's end reaches the gateway
            if not gateway.handles:
                break
            await asyncio.sleep(0.02)
        assert not gateway.handles
        assert gateway.feed.recent[-1].leg == "twilio"
    (path,) = record_dir.glob("*.wav")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    left, right = _channels(path)
    lt, rt = _ticks(left), _ticks(right)
    loud_left = [i for i, t in enumerate(lt) if max(map(abs, t)) > 1000]
    loud_right = [i for i, t in enumerate(rt) if max(map(abs, t)) > 1000]
    assert len(loud_left) >= 45 and len(loud_right) >= 30, (len(loud_left), len(loud_right))
    # the caller's 1 kHz on the left, the echo agent's copy of it on the right, 200 ms later
    assert dominant_tone(_encode(lt[loud_left[5]]), (400, 1000, 2000)) == 1000
    assert dominant_tone(_encode(rt[loud_right[5]]), (400, 1000, 2000)) == 1000
    assert 9 <= loud_right[0] - loud_left[0] <= 14, (loud_left[0], loud_right[0])
