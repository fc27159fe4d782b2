"""The speech-to-speech agents place calls with answering-machine detection to real
baresip callees (docs/amd.md, "What the speech-to-speech agents do").

The gateway runs in-process with ``--agent voice-agent`` or ``realtime`` on the vendor's
fake (in a thread, real sockets), which speaks each reply as a tone; baresip auto-answers
and plays a WAV made with espeak-ng: a person's "Hello?", or a voicemail's greeting and
beep. The callee's recording shows what it heard; when the beep and the agent's tones
passed is read on the wire (tests/toolkit/wire.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipgw.agent.amd.settings import AmdMode, AmdRequest
from sipgw.app.evaluation.audio import analyse, first_audio_after
from tests.agent.s2s.stack import Kind
from tests.interop.test_amd_peers import (
    CallPorts,
    assert_after_the_beep,
    greeting_wav,
    place_to_baresip,
    this_calls_packets,
    tone_packets,
)
from tests.interop.test_assistant_peers import call_record, spans
from tests.interop.test_s2s_peers import fake_service
from tests.toolkit.wire import RtpCapture

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("nothing_left_running")]

MESSAGE_HZ, OPENING_HZ = 900, 1300
MESSAGE = "Hi, this is Ana from the shop, please call us back about your order."
OPENING = "Hi, this is Ana from the shop, calling about your order."
VOICEMAIL = (
    "Hi, you've reached Ana Lopez. I can't take your call right now. "
    "Please leave your name and number after the tone."
)
KINDS: tuple[Kind, ...] = ("voice-agent", "realtime")


async def place(
    tmp_workdir: Path,
    kind: Kind,
    wav: Path,
    mode: AmdMode,
    hang_up_after: float,
    **more: str,
) -> tuple[Path, list[dict[str, object]], object, CallPorts]:
    """Call a baresip that plays ``wav`` with ``kind``'s agent; the callee hangs up after
    ``hang_up_after`` s unless the gateway did first. Returns what the callee heard, the
    call record, the outcome and the RTP ports of both ends."""
    with fake_service(kind, "speech", speed=4.0, reply_delay=0.05) as (fake, env):
        fake.map_text("call us back", MESSAGE_HZ)
        fake.map_text("calling about", OPENING_HZ)
        env = {**env, "SIPGW_AMD_MESSAGE": MESSAGE, "SIPGW_OUTBOUND_GREETING": OPENING,
               "SIPGW_CALL_RECORD_DIR": str(tmp_workdir / "calls"),
               "SIPGW_FALLBACK_SYNTHESIZE": "off", **more}  # fmt: skip
        heard, outcome, ports = await place_to_baresip(
            tmp_workdir, wav, kind, env, AmdRequest(mode), hang_up_after
        )
    return heard, call_record(tmp_workdir), outcome, ports


@pytest.mark.parametrize(
    ("kind", "beep_after", "env"),
    [
        ("voice-agent", 1.0, {}),
        ("realtime", 1.0, {}),
        # the session hears no words before the decision, so "after the tone" does not
        # make the message wait longer for a late beep: the operator's setting does
        ("voice-agent", 2.5, {"SIPGW_AMD_GREETING_END_SILENCE": "4"}),
    ],
)
async def test_a_voicemail_gets_the_message_after_its_beep(
    tmp_workdir: Path, kind: Kind, beep_after: float, env: dict[str, str]
) -> None:
    """The message starts after the beep, and the call ends once it was heard. A beep
    that comes later than ``SIPGW_AMD_GREETING_END_SILENCE`` (2 s) after the greeting's
    last word needs that setting raised (docs/amd.md). Where the beep, the opening and the
    message are is read on the wire, with the kernel's times (the callee's recording
    leaves out the RTP it did not play in time on a loaded machine)."""
    wav = tmp_workdir / "voicemail.wav"
    played = greeting_wav(wav, VOICEMAIL, beep_hz=1000.0, beep_after=beep_after)
    assert played.beep is not None
    with RtpCapture() as capture:
        heard, record, outcome, ports = await place(
            tmp_workdir, kind, played.wav, AmdMode.LEAVE_MESSAGE, hang_up_after=25.0, **env
        )
        packets = capture.packets()
    assert outcome.reason == "local-bye", outcome  # type: ignore[attr-defined]
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "voicemail" and amd["action"] == "message" and amd["final"], amd
    assert spans(analyse(heard), MESSAGE_HZ), analyse(heard).describe()  # the callee heard it
    packets = this_calls_packets(packets, ports, MESSAGE_HZ)
    beep, message = tone_packets(packets, 1000.0), tone_packets(packets, MESSAGE_HZ)
    assert beep and message, (len(packets), len(beep), len(message))
    assert_after_the_beep(packets, beep, message)  # the message after the beep
    # heard on audio alone, "Hi, you've reached Ana Lopez." and its pause are a person's
    # pickup: the opening begins, and is cut once the greeting goes on (a revision)
    opening = len(tone_packets(packets, OPENING_HZ)) * 0.020
    assert opening <= 0.8, opening
    kinds = [r["type"] for r in record]
    assert kinds.index("amd_ready") < kinds.index("hangup")


@pytest.mark.parametrize("kind", KINDS)
async def test_hello_hears_the_opening_once_decided(tmp_workdir: Path, kind: Kind) -> None:
    played = greeting_wav(tmp_workdir / "hello.wav", "Hello?", beep_hz=None)
    heard, record, outcome, _ = await place(
        tmp_workdir, kind, played.wav, AmdMode.LEAVE_MESSAGE, hang_up_after=6.0
    )
    amd = outcome.amd  # type: ignore[attr-defined]
    assert amd["kind"] == "human" and amd["action"] == "conversation", amd
    report = analyse(heard)
    assert spans(report, OPENING_HZ), report.describe()
    first = first_audio_after(report, 0.0)
    assert first is not None, report.describe()
    assert first > played.speech_end, (first, played.speech_end)  # never over the "Hello?"
    assert first - played.speech_end <= 1.0, (first, played.speech_end)
    assert any(r["type"] == "amd" and r["kind"] == "human" for r in record)
