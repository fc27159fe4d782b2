"""HD voice for a speech-to-speech agent with a real peer: baresip offering G.722 only.

``sipgw serve --agent realtime --codecs G722,PCMU,PCMA`` against the Realtime fake in a
thread; baresip (its g722 module, ``g722/16000/1`` alone) calls it. The session is opened
with ``audio/pcm`` at 24 kHz both ways; the fake hears the caller's 16 kHz resampled to
24 kHz (their 6 kHz tone, which 8 kHz audio cannot carry, is there) and baresip decodes the
model's greeting from G.722 at 16 kHz: a 5 kHz tone, which the μ-law voice of a narrowband
session cannot carry.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse, tone_spans
from sipgw.app.evaluation.gateway_process import GatewayProcess
from tests.interop.test_hd_voice_peers import HIGH_HZ, SPEECH_HZ, level_at, wideband_speech
from tests.toolkit.canaries import OPENAI_KEY
from tests.toolkit.fakes.realtime import FakeRealtime
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("nothing_left_running")]

GREETING_HZ = 5000  # above 4 kHz: only a wideband voice carries it
PCM = {"type": "audio/pcm", "rate": 24000}


def test_a_g722_softphone_hears_a_realtime_model_at_16_khz(tmp_workdir: Path) -> None:
    source = wideband_speech(tmp_workdir / "audio" / "wide.wav")
    fake = FakeRealtime(OPENAI_KEY, speed=2.0, reply_delay=0.05, keep_audio=True)
    fake.map_text("Hi there", GREETING_HZ)
    fake.start_in_thread()
    try:
        env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_REALTIME_BASE_URL": fake.base_url,
               "SIPGW_GREETING": "Hi there, how can I help?"}  # fmt: skip
        gw = GatewayProcess(tmp_workdir, agent="realtime", allow_from="127.0.0.0/8",
                            extra_args=("--codecs", "G722,PCMU,PCMA"), extra_env=env)  # fmt: skip
        caller = Baresip(tmp_workdir, "a", user="a", source_wav=source, codec="g722/16000/1",
                         modules=["g722.so"])  # fmt: skip
        with gw, caller:
            gw.wait_log(r"fallback lines of", 10)  # spoken by the fake at the start (μ-law)
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            gw.wait_log(r"media: G722/9 to ", 5)
            # The caller's tone (0.5 s in, 1.5 s long) at 24 kHz: 2 s of audio is 96000 octets.
            fake.wait_for_blocking(
                lambda: any(
                    s.session["audio"]["input"]["format"] == PCM and s.audio_bytes > 96000
                    for s in fake.sessions
                ),
                10,
            )
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5)
            heard, _ = caller.recordings()
    finally:
        fake.stop()
    (call,) = [s for s in fake.sessions if s.session["audio"]["input"]["format"] == PCM]
    assert call.session["audio"]["output"]["format"] == PCM
    received = bytes(call.audio)
    # the caller at 24 kHz: their 6 kHz half is there, beside the 300 Hz
    assert level_at(received, HIGH_HZ, 24000) > 0.1 * level_at(received, SPEECH_HZ, 24000)
    with wave.open(str(heard)) as wav:
        assert wav.getframerate() == 16000
    assert tone_spans(analyse(heard), GREETING_HZ, 0.1), "no 5 kHz greeting"
