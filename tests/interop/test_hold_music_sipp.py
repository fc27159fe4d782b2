"""The caller's side holds the agent and plays its own music into the hold (SIPp as the caller).

Hold both ways (issue 24): the caller putting the agent on hold pauses the agent's speech
and its turn timers, and both go on when the caller resumes. The hold of a baresip behind
Asterisk (test_hold_asterisk.py) sends no audio while it holds; a
PBX or softswitch that streams its own music while holding (sendonly) sends a re-INVITE
with ``a=sendonly`` and then keeps sending: its music, loud, which is neither a turn nor a
barge-in. (No documentation on this machine names one that does both; linphone can play a
music file into a call it holds: "call hold (with possibility to play a music file)", the
NEWS of linphone 3.4.0, /usr/share/doc/linphone-cli/NEWS.gz.)

SIPp plays that caller (``scenarios/uac_hold_music.xml``): it speaks, the assistant starts a
reply five seconds long that ends with ``end_call``, and SIPp holds the call with
``a=sendonly`` while that reply plays, streams a melody for :data:`HOLD` seconds, stops it
and resumes with ``a=sendrecv``. The wait for the reply's line before the hang-up is the
turn timer that would fire during the hold: ``SIPGW_ACTION_LINE_TIMEOUT_MS`` is set below
the time from the tool call to the resume, and above what is left of the reply then. SIPp
3.6.1 keeps nothing of what it receives, so what the caller heard is read on the wire
(:class:`~tests.toolkit.wire.RtpCapture` on ``lo``, in arrival order).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipgw.app.evaluation.audio import dominant_tone, encode, tone_samples
from sipgw.app.evaluation.fakes.openai import FakeResponse, FakeToolCall
from sipgw.app.evaluation.gateway_process import GatewayProcess
from sipgw.app.evaluation.ports import free_port_range
from tests.interop.services import fake_services
from tests.interop.test_assistant_peers import call_record
from tests.toolkit.fakes.threaded import ThreadedFakes
from tests.toolkit.peers.sipp import SippProcess, scenario
from tests.toolkit.wire import RtpCapture, WirePacket

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_running")]

SPEECH_HZ, REPLY_HZ = 300, 900
REPLY = "Our shop opens at nine every weekday and stays open until six in the evening. " * 3
REPLY_FRAMES = len(REPLY.strip())  # the fake TTS: 20 ms a character
HOLD = 9.0  # seconds of music (SIPp's -d); the scenario holds 3.5 s after its ACK
LINE_TIMEOUT = 7.0  # the tool call comes about 1.5 s after the ACK: it would end mid-hold
MELODY = ((523.25, 0.4), (659.25, 0.4), (783.99, 0.4), (1046.5, 0.8), (None, 0.4),
          (783.99, 0.4), (659.25, 0.4), (523.25, 0.8), (None, 0.4))  # fmt: skip
"""The music on hold: (Hz or a rest, seconds), at -12 dBFS; 2 s of notes outlast any
barge-in's commit time (600 ms)."""
LOUD_DBFS = -30.0  # tones at -12 dBFS (the caller's), the fake TTS's level; silence far below
END_CALL = FakeToolCall("end_call", {"reason": "caller has the opening hours"})


@pytest.fixture
def services(tmp_workdir: Path) -> Iterator[ThreadedFakes]:
    with fake_services(tmp_workdir, {"opens at nine": REPLY_HZ}) as fakes:
        yield fakes


def ulaw(*segments: tuple[float | None, float]) -> bytes:
    """Raw μ-law of (Hz or None for silence, seconds) segments (SIPp 3.6.1's rtp_stream
    sends a file's bytes as they are, 160 a packet)."""
    out = b""
    for hz, seconds in segments:
        samples = tone_samples(hz, seconds, -12.0) if hz else [0] * round(seconds * 8000)
        out += encode(samples)
    return out


def write_media(cwd: Path) -> None:
    """The files the scenario plays, in SIPp's working directory."""
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "speech.ulaw").write_bytes(ulaw((None, 0.5), (SPEECH_HZ, 0.6), (None, 30.0)))
    (cwd / "music.ulaw").write_bytes(ulaw(*MELODY))
    (cwd / "silence.ulaw").write_bytes(ulaw((None, 1.0)))


def loud(p: WirePacket) -> bool:
    return p.level_dbfs() > LOUD_DBFS


def test_music_from_the_holding_side_is_no_turn_and_the_reply_waits_for_the_resume(
    tmp_workdir: Path, services: ThreadedFakes
) -> None:
    services.stt.script(["When are you open?"])
    services.llm.script([FakeResponse(text=REPLY, tool_calls=[END_CALL]), FakeResponse(text="")])
    cwd = tmp_workdir / "sipp"
    write_media(cwd)
    env = {**services.env, "SIPGW_GREETING": "",
           "SIPGW_ACTION_LINE_TIMEOUT_MS": str(int(LINE_TIMEOUT * 1000))}  # fmt: skip
    media_port = free_port_range(4).lo  # SIPp's RTP (rtp_stream sends from -mp)
    gw = GatewayProcess(tmp_workdir, agent="assistant", extra_env=env, allow_from="127.0.0.0/8")
    with RtpCapture() as capture, gw:
        args = ["-sf", scenario("uac_hold_music.xml"), gw.target, "-s", "agent", "-m", "1",
                "-d", str(int(HOLD * 1000)), "-mp", str(media_port)]  # fmt: skip
        with SippProcess(args, timeout=60, cwd=cwd) as sipp:
            result = sipp.wait()
        gw.wait_log(r"call ended: ", 10)
        packets = capture.packets()
        log = gw.log_text()
        assert gw.stop() == 0
    record: list[dict[str, Any]] = call_record(tmp_workdir)
    lines = "\n".join(str(r) for r in record)
    holds = [r for r in record if r["type"] == "hold"]
    assert [(r["held"], r["by"]) for r in holds] == [(True, "caller"), (False, "caller")], lines
    assert re.findall(r"media updated: (\w+)", log) == ["recvonly", "sendrecv"]
    # The music reached neither the turn-taking nor speech-to-text: no barge-in, no turn.
    assert not [r for r in record if r["type"] in ("barge_in", "barge_in_resumed")], lines
    assert [r["text"] for r in record if r["type"] == "user"] == ["When are you open?"], lines
    said = {m["content"] for r in services.llm.requests for m in r.body["messages"]
            if m["role"] == "user"}  # fmt: skip
    assert said == {"When are you open?"}
    # The wait for the reply's line stopped counting while held: the hang-up came after
    # the whole reply, after the resume, though the wait outlasted its timeout.
    (action,) = [r for r in record if r["type"] == "action"]
    assert (action["action"], action["line"]) == ("hangup", "reply"), lines
    assert action["t"] > holds[1]["t"] and action["waited_ms"] > LINE_TIMEOUT * 1000, lines
    result.assert_ok(successful=1)  # recvonly, then sendrecv, answered; the BYE after the resume

    # On the wire, in arrival order: the music, and what the gateway sent around it.
    gateway_ports = set(gw.rtp_ports.ports())

    def to_caller(p: WirePacket) -> bool:
        return p.dst_port == media_port and p.src_port in gateway_ports

    music = [i for i, p in enumerate(packets) if p.src_port == media_port and loud(p)
             and dominant_tone(p.packet.payload, [SPEECH_HZ]) is None]  # fmt: skip
    assert music, "no music from SIPp on the wire"
    first, last = music[0], music[-1]
    assert packets[last].at - packets[first].at > HOLD - 1.0
    during = [p for p in packets[first:last] if to_caller(p)]
    assert not during, f"{len(during)} packets sent to a caller who held the call"
    before = [p for p in packets[:first] if to_caller(p) and loud(p)]
    after = [p for p in packets[last:] if to_caller(p) and loud(p)]
    heard = before + after
    reply = [p for p in heard if dominant_tone(p.packet.payload, [REPLY_HZ]) == REPLY_HZ]
    assert len(reply) >= 0.9 * len(heard), (len(reply), len(heard))
    assert len(before) >= 10 and len(after) >= 10, (len(before), len(after))  # held mid-reply
    # All of it, once: it went on from where it stopped.
    assert 0.8 * REPLY_FRAMES <= len(heard) <= 1.1 * REPLY_FRAMES, (len(heard), REPLY_FRAMES)
