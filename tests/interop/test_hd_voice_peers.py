"""HD voice (issue 43) with real peers: baresip's g722 and opus modules offering them first.

``sipgw serve --agent assistant --codecs G722,PCMU,PCMA`` with its clients pointed at the
fakes. A softphone calling the gateway straight gets G.722 both ways: the speech-to-text
fake is asked for ``pcm_s16le`` at 16000 and gets the caller's 16 kHz audio (a 6 kHz
tone, which 8 kHz audio cannot carry, is there), the text-to-speech fake is asked for
``pcm_16000`` and baresip decodes the greeting from G.722 at 16 kHz: a 5 kHz tone, which
the 8 kHz voice of a ``ulaw_8000`` request cannot carry (the fake's would fold back to
3 kHz). The same offer on a trunk's account (``[accounts.trunk]``, no ``codecs`` of its
own) is answered PCMU: carriers keep G.711 first, and its voice is ``ulaw_8000``.

Opus (RFC 7587): baresip's opus module offering ``opus/48000/2`` first to
``--codecs OPUS,PCMU,PCMA`` gets Opus both ways: the speech-to-text fake gets the caller's
16 kHz (its 6 kHz), baresip decodes the greeting's 5 kHz, and its RFC 4733 digit (baresip offers
``telephone-event/8000`` only) reaches the gateway; the same baresip calling a line whose
``codecs`` leave Opus out gets PCMU from the same gateway.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import analyse, tone_spans, write_pattern
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port
from tests.interop.services import fake_services
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.metrics import sample_value
from tests.toolkit.peers.baresip import Baresip

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

GREETING_HZ = 5000  # above 4 kHz: only a 16 kHz voice carries it
SPEECH_HZ, HIGH_HZ = 300, 6000
WIDEBAND_STT = {"speech_model": "u3-rt-pro", "encoding": "pcm_s16le", "sample_rate": "16000"}


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fake_services(tmp_workdir, {"Hi there": GREETING_HZ}) as fakes:
        fakes.stt.keep_audio = True
        yield fakes


def wideband_speech(path: Path, rate: int = 16000, channels: int = 1) -> Path:
    """16 kHz mono (48 kHz stereo for Opus: baresip's file source must match the codec):
    0.5 s of silence, 1.5 s of 300 Hz and 6 kHz together (-12 dBFS each), then 30 s of
    silence."""
    samples = [0] * (rate // 2)
    for n in range(int(rate * 1.5)):
        t = n / rate
        samples.append(int(8000 * (math.sin(2 * math.pi * SPEECH_HZ * t)
                                   + math.sin(2 * math.pi * HIGH_HZ * t))))  # fmt: skip
    samples += [0] * (rate * 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(array("h", (v for v in samples for _ in range(channels))).tobytes())
    return path


def level_at(pcm: bytes, hz: float, rate: int = 16000) -> float:
    """The Goertzel power of ``hz`` in s16le ``pcm``, relative to the whole's energy."""
    x = array("h", pcm)
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for sample in x:
        s1, s2 = sample + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    energy = sum(v * v for v in x) or 1
    return power / (energy * len(x))


def voice_formats(services: ThreadedFakes) -> set[str]:
    """The ``output_format`` s of the TTS sockets that spoke the greeting."""
    return {
        socket.request.query["output_format"]
        for socket in services.tts.sockets
        if any("Hi there" in context.text for context in socket.contexts)
    }


def gateway(
    tmp_workdir: Path, services: ThreadedFakes, *args: str, codecs: str = "G722,PCMU,PCMA"
) -> GatewayProcess:
    return GatewayProcess(
        tmp_workdir, agent="assistant", allow_from="127.0.0.0/8",
        extra_args=("--codecs", codecs, *args), extra_env=services.env,
    )  # fmt: skip


def phone(tmp_workdir: Path, source: Path) -> Baresip:
    """baresip offering G.722 first, then PCMU (its g722 module)."""
    return Baresip(tmp_workdir, "a", user="a", source_wav=source, codec="g722/16000/1,pcmu",
                   modules=["g722.so"])  # fmt: skip


def stt_params(session: object) -> tuple[str, str]:
    params = session.params  # type: ignore[attr-defined]
    return params["encoding"], params["sample_rate"]


def test_softphones_offering_g722_or_opus_get_them_and_the_stt_hears_16_khz(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    """One gateway, ``--codecs G722,OPUS,PCMU,PCMA`` (one start for the three calls)."""
    services.stt.required_params = {"speech_model": "u3-rt-pro"}  # either encoding, checked below
    routes = tmp_workdir / "routes.toml"  # a line whose codecs leave Opus (and G.722) out
    routes.write_text('default = "hd"\n[lines.hd]\n[lines.plain]\ncodecs = ["PCMU", "PCMA"]\n'
                      '[[routes]]\ncalled = "plain"\nline = "plain"\n')  # fmt: skip
    source = wideband_speech(tmp_workdir / "audio" / "wide.wav")
    wide48 = wideband_speech(tmp_workdir / "audio" / "wide48.wav", 48000, 2)
    narrow = write_pattern(tmp_workdir / "audio" / "narrow.wav",
                           [(None, 0.5), (SPEECH_HZ, 1.5), (None, 30.0)], -12.0)  # fmt: skip
    admin = free_port()
    with gateway(
        tmp_workdir, services, "--routes", str(routes), "--admin-port", str(admin),
        "--record-dir", str(tmp_workdir / "rec"), codecs="G722,OPUS,PCMU,PCMA",
    ) as gw:  # fmt: skip
        with phone(tmp_workdir, source) as caller:  # G.722
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            gw.wait_log(r"media: G722/9 to ", 5)
            services.stt.wait_for_blocking(  # 2.5 s of audio (counted as 8 kHz μ-law)
                lambda: any(s.audio_bytes > 20000 for s in services.stt.sessions), 10
            )
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5)
            heard_g722, _ = caller.recordings()
        with Baresip(tmp_workdir, "b", user="b", source_wav=wide48, codec="opus/48000/2,pcmu",
                     modules=["opus.so"]) as caller:  # fmt: skip
            mark = len(gw.log_lines())
            caller.dial(gw.uri("agent"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            gw.wait_log(r"media: OPUS/96 to ", 5, start=mark)
            services.stt.wait_for_blocking(
                lambda: (
                    len(services.stt.sessions) == 2 and services.stt.sessions[1].audio_bytes > 20000
                ),
                10,
            )
            caller.send_dtmf("5")  # telephone-event/8000, the only one baresip offers
            gw.wait_log(r"DTMF 5", 5)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5, start=mark)
            heard_opus, _ = caller.recordings()
            caller.play(narrow)  # the next call's source: PCMU's 8 kHz mono
            mark = len(gw.log_lines())
            caller.dial(gw.uri("plain"))
            caller.wait_event("CALL_ESTABLISHED", 5)
            gw.wait_log(r"media: PCMU/0 to ", 5)
            services.stt.wait_for_blocking(lambda: len(services.stt.sessions) == 3, 10)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", 5)
            gw.wait_log(r"call ended:", 5, start=mark)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as response:
            metrics = response.read()
        assert gw.stop() == 0
    for codec in ("G722", "OPUS", "PCMU"):
        assert sample_value(metrics, "sipgw_call_codecs_total", codec=codec) == 1, codec
    rates = []  # the gateway's recordings: 16 kHz where the caller was (G.722, Opus)
    for wav_path in sorted((tmp_workdir / "rec").glob("*.wav"), key=lambda p: p.stat().st_mtime):
        with wave.open(str(wav_path)) as wav:
            rates.append(wav.getframerate())
    assert rates == [16000, 16000, 8000]
    g722, opus, plain = services.stt.sessions
    assert [stt_params(s) for s in (g722, opus, plain)] == [
        ("pcm_s16le", "16000"), ("pcm_s16le", "16000"), ("pcm_mulaw", "8000"),
    ]  # fmt: skip
    for session in (g722, opus):
        # The caller's tone came through at 16 kHz: its 6 kHz half is there, beside the 300 Hz.
        received = b"".join(session.received)
        assert level_at(received, HIGH_HZ) > 0.1 * level_at(received, SPEECH_HZ), "no 6 kHz"
    records = sorted((tmp_workdir / "calls").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    lines = [json.loads(line) for record in records for line in record.read_text().splitlines()]
    assert [r["codec"] for r in lines if r["type"] == "quality"] == ["G722", "OPUS", "PCMU"]
    # The voice was asked for at 16 kHz on the HD calls, μ-law on the PCMU one (the fallback
    # lines, made at start, in μ-law).
    assert voice_formats(services) == {"pcm_16000", "ulaw_8000"}
    # What baresip heard was G.722 decoded at 16 kHz, Opus at 48 kHz: the greeting's 5 kHz.
    for heard, rate in ((heard_g722, 16000), (heard_opus, 48000)):
        with wave.open(str(heard)) as wav:
            assert wav.getframerate() == rate
        assert tone_spans(analyse(heard), GREETING_HZ, 0.1), f"no greeting in {heard.name}"


def test_a_trunks_account_keeps_g711_first_though_g722_is_offered_first(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    accounts = tmp_workdir / "accounts.toml"
    accounts.write_text(
        '[accounts.trunk]\naor = "sip:+15550100@sip.trunk.invalid"\nagent = "assistant"\n'
    )
    # 8 kHz (baresip's file source must match the codec it is given: PCMU here)
    source = write_pattern(tmp_workdir / "audio" / "narrow.wav", [(None, 0.5), (SPEECH_HZ, 1.5),
                                                                  (None, 30.0)], -12.0)  # fmt: skip
    with (
        gateway(tmp_workdir, services, "--accounts", str(accounts)) as gw,
        phone(tmp_workdir, source) as caller,
    ):
        caller.dial(gw.uri("+15550100"))
        caller.wait_event("CALL_ESTABLISHED", 5)
        gw.wait_log(r"media: PCMU/0 to ", 5)
        services.stt.wait_for_blocking(
            lambda: any(s.audio_bytes > 8000 for s in services.stt.sessions)
        )
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended:", 5)
        assert gw.stop() == 0
    assert "(account trunk)" in gw.log_text()
    (session,) = services.stt.sessions
    assert session.params["encoding"] == "pcm_mulaw" and session.params["sample_rate"] == "8000"
    assert voice_formats(services) == {"ulaw_8000"}


def test_the_echo_plays_a_g722_caller_back_at_16_khz(tmp_workdir: Path) -> None:
    """The echo agent on a G.722 call takes and gives 16 kHz: the caller's 6 kHz comes back."""
    source = wideband_speech(tmp_workdir / "audio" / "wide.wav")
    gw = GatewayProcess(tmp_workdir, agent="echo", extra_args=("--codecs", "G722,PCMU"),
                        extra_env={"SIPGW_ECHO_DELAY_MS": "200"})  # fmt: skip
    with gw, phone(tmp_workdir, source) as caller:
        caller.dial(gw.uri("echo"))
        caller.wait_event("CALL_ESTABLISHED", 5)
        gw.wait_log(r"media: G722/9 to ", 5)
        # 3 s received (16 kHz s16le): the 0.5 s of silence and 1.5 s of speech, echoed 0.2 s
        # later, are all back by then.
        deadline = time.monotonic() + 15
        while not any(d.stat().st_size > 96_000 for d in caller.rec_dir.glob("dump-*-dec.wav")):
            assert time.monotonic() < deadline, "baresip received under 3 s of audio"
            time.sleep(0.1)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 5)
        gw.wait_log(r"call ended:", 5)
        heard, _ = caller.recordings()
        assert gw.stop() == 0
    with wave.open(str(heard)) as wav:
        assert wav.getframerate() == 16000
        pcm = wav.readframes(wav.getnframes())
    assert level_at(pcm, HIGH_HZ) > 0.1 * level_at(pcm, SPEECH_HZ), "no 6 kHz in the echo"
