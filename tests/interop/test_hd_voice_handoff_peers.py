"""A hand-off between agents of different formats on an HD-voice call, with a real peer.

baresip offers G.722 only and calls ``sipgw serve --agent assistant --codecs G722,PCMU,PCMA``
with a routes file: the front line's assistant hears and speaks 16 kHz (its speech-to-text
fake is asked for ``pcm_s16le`` at 16000, its voice for ``pcm_16000``) and hands the caller
to a realtime line (the Realtime fake), whose session carries 24 kHz ``audio/pcm`` both ways.
The call's media decides its conversions again at the switch (media/codecs/convert.py).

Heard through: the caller hears the front desk's voice (a 4.5 kHz tone, which only a
wideband voice carries) and then the night desk's (5.5 kHz); the call's recording has both
in the agent's channel. What the caller says while the front desk's last words play, after
the hand-off was asked for and before the switch (a quiet 5 kHz tone, under every voice
detector's floor so that no turn or barge-in comes of it), reaches the realtime session at
24 kHz: the frames the switch kept, converted to the new agent's format.
"""

from __future__ import annotations

import math
import struct
import time
import wave
from array import array
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import (
    analyse,
    analyse_samples,
    tone_samples,
    tone_spans,
    write_wav,
)
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.services import fake_services
from tests.toolkit.canaries import OPENAI_KEY
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.fakes.voice_base import FakeReply
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

FRONT_HZ, NIGHT_HZ, SPEECH_HZ, WORD_HZ = 4500, 5500, 300, 5000
WORD_START, WORD_END = 2.3, 3.3
"""When the caller says the quiet word (s from the call's start): after the hand-off is
asked for (their first turn ends at 1.8 s), while the front desk says its last words (from
about 2 s), which the switch waits for."""
SWITCH_TO_VOICE = 0.25
"""The night desk's first audio comes at most this long after the switch (s): the fake
answers at once (``reply_delay`` 0.05 s)."""
PCM = {"type": "audio/pcm", "rate": 24000}
ROUTES = """\
default = "front"

[lines.front]
agent = "assistant"
voice = "front-voice"
hand_off_to = ["night"]

[lines.night]
agent = "realtime"
"""


def caller_audio(path: Path) -> Path:
    """16 kHz mono (baresip's G.722 source): a turn (300 Hz, 1.0 to 1.8 s, -12 dBFS), then
    the quiet word (5 kHz at -45 dBFS, under the voice detectors' -40 and -35 dBFS floors)."""
    rate = 16000
    samples = [0] * rate
    samples += tone_samples(SPEECH_HZ, 0.8, -12.0, rate)
    samples += [0] * round((WORD_START - 1.8) * rate)
    samples += tone_samples(WORD_HZ, WORD_END - WORD_START, -45.0, rate)
    samples += [0] * rate * 20
    return write_wav(path, samples, rate)


def seconds_of(pcm: bytes, hz: float, rate: int) -> float:
    """How long ``hz`` is the audio (s16le), quiet as it is: 20 ms frames above -65 dBFS
    with over half their energy at ``hz``."""
    size = rate // 50
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    found = 0
    for start in range(0, len(samples) - size + 1, size):
        frame = samples[start : start + size]
        energy = sum(v * v for v in frame)
        if energy <= size * (32768 * 10 ** (-65 / 20)) ** 2:
            continue
        s1 = s2 = 0.0
        for v in frame:
            s1, s2 = v + coeff * s1 - s2, s1
        power = (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2 / size
        found += power > 0.5 * energy
    return found * 0.02


def agent_channel(path: Path) -> tuple[list[int], int]:
    """The agent's side (right) of a call recording, and its rate."""
    with wave.open(str(path), "rb") as wav:
        rate, data = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    return list(samples[1::2]), rate


def test_an_hd_call_handed_from_the_assistant_to_a_realtime_line_is_heard_through(
    tmp_workdir: Path,
) -> None:
    (tmp_workdir / "routes.toml").write_text(ROUTES)
    source = caller_audio(tmp_workdir / "audio" / "caller.wav")
    realtime = FakeRealtime(OPENAI_KEY, speed=2.0, reply_delay=0.05, keep_audio=True)
    realtime.map_text("Night desk", NIGHT_HZ)
    realtime.script([FakeReply("Night desk here.")])
    realtime.start_in_thread()
    try:
        with fake_services(tmp_workdir, {}) as services:
            services.tts.map_voice("front-voice", FRONT_HZ)
            services.stt.required_params = {"speech_model": "u3-rt-pro"}  # 16 kHz, checked below
            services.stt.script(["I need the night desk."])
            services.llm.script([
                FakeResponse(tool_calls=[
                    FakeToolCall("hand_off", {"line": "night", "summary": "Wants nights."})
                ]),
                FakeResponse(
                    text="Putting you through to the night desk now, please hold the line."
                ),
            ])  # fmt: skip
            env = {**services.env, "OPENAI_REALTIME_BASE_URL": realtime.base_url}
            gw = GatewayProcess(
                tmp_workdir, agent="assistant", allow_from="127.0.0.0/8", extra_env=env,
                extra_args=["--routes", str(tmp_workdir / "routes.toml"), "--codecs",
                            "G722,PCMU,PCMA", "--record-dir", str(tmp_workdir / "rec")],
            )  # fmt: skip
            caller = Baresip(tmp_workdir, "a", user="a", source_wav=source,
                             codec="g722/16000/1", modules=["g722.so"])  # fmt: skip
            with gw, caller:
                caller.dial(gw.uri("+15550100"))
                caller.wait_event("CALL_ESTABLISHED", 10)
                gw.wait_log(r"media: G722/9 to ", 5)
                gw.wait_log(r"handed to line night", 15)
                time.sleep(1.5)  # the night desk's reply is heard (under a second of audio)
                caller.hangup()
                caller.wait_event("CALL_CLOSED", 5)
                gw.wait_log(r"call ended:", 5)
                heard, _ = caller.recordings()
                assert gw.stop() == 0
            stt_formats = {(s.params["encoding"], s.params["sample_rate"])
                           for s in services.stt.sessions}  # fmt: skip
            voices = {s.request.query["output_format"] for s in services.tts.sockets}
    finally:
        realtime.stop()
    assert ("pcm_s16le", "16000") in stt_formats and "pcm_16000" in voices
    (night,) = [s for s in realtime.sessions if s.audio_bytes]
    assert night.session["audio"]["input"]["format"] == PCM
    assert night.session["audio"]["output"]["format"] == PCM
    # Both agents reach the caller, in the wideband: the front desk, then the night desk.
    report = analyse(heard)
    front, night_voice = tone_spans(report, FRONT_HZ), tone_spans(report, NIGHT_HZ)
    assert front and night_voice, report.describe()
    assert front[-1][1] <= night_voice[0][0], report.describe()
    # The quiet word began well before the switch (the night desk's first audio follows
    # it), and the realtime session heard all of it at 24 kHz: without the frames the
    # switch kept it would have heard at most what was said after the switch.
    switch_after = night_voice[0][0] - SWITCH_TO_VOICE
    assert switch_after - WORD_START >= 0.4, report.describe()
    said = seconds_of(bytes(night.audio), WORD_HZ, 24000)
    unkept = max(0.0, WORD_END - switch_after)
    assert said >= 0.85 * (WORD_END - WORD_START) > unkept + 0.1, (said, unkept)
    print(f"front desk until {front[-1][1]:.2f} s, night desk from {night_voice[0][0]:.2f} s,"
          f" the word heard by the realtime session: {said:.2f} s")  # fmt: skip
    # The call's recording goes on across the switch: both voices in the agent's channel.
    (recording,) = (tmp_workdir / "rec").glob("*.wav")
    samples, rate = agent_channel(recording)
    assert rate == 16000
    recorded = analyse_samples(samples, rate)
    assert tone_spans(recorded, FRONT_HZ) and tone_spans(recorded, NIGHT_HZ), recorded.describe()
