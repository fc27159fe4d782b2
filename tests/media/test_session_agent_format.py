"""media/session.py: the call's agent changes to one of another format mid-call (a hand-off
between lines): the conversions are decided again, both ways, on the session's own clock
(``now`` passed in), and the codec, DTMF and hold go on as they were."""

from __future__ import annotations

import math
from itertools import pairwise

from sipgw.media import g711
from sipgw.media.codecs import G722, PCM16_16K, PCM16_24K, PCMU, ULAW_8K
from sipgw.media.rtp import RtpPacket
from sipgw.media.session import MediaSession, StreamParams
from tests.media.codecs.test_convert import goertzel, tone
from tests.media.test_session import PEER, packet

HZ = 1000


def level_db(frame: bytes, rate: int) -> float:
    """The 1 kHz tone's level in one s16le frame, dB under the source's 8000."""
    return 20 * math.log10(max(goertzel(frame, HZ, rate), 1e-9) / 8000)


def g722_call(agent_format: object = PCM16_16K) -> tuple[MediaSession, list[bytes], list[bytes]]:
    """A G.722 call whose caller says a 1 kHz tone (20 packets, 20 ms apart, from ``now``
    0); the session, what the tap heard, and the wire's packets."""
    session = MediaSession(StreamParams(PEER, codec=G722, payload_type=9, telephone_event_pt=101),
                           now=0.0, agent_format=agent_format)  # type: ignore[arg-type]  # fmt: skip
    heard: list[bytes] = []
    session.on_audio = heard.append
    encoder = G722.encoder()
    wire = [encoder.encode(f) for f in tone(HZ, 20, 16000)]
    return session, heard, wire


def test_a_16_khz_agent_then_a_24_khz_one_on_a_g722_call() -> None:
    s, heard, wire = g722_call()
    played: list[bytes] = []
    for n in range(10):
        s.receive(packet(n, pt=9, payload=wire[n]), PEER, 0.02 * n)
        frame = s.caller_frame(0.02 * n + 0.06)
        if frame is not None:
            played.append(frame)
    assert s.heard_format == PCM16_16K and {len(f) for f in heard + played} == {640}
    assert s.use_agent_format(PCM16_24K)  # the realtime line takes the call over
    assert not s.use_agent_format(PCM16_24K)  # the same again: nothing to do
    assert s.heard_format == PCM16_24K
    tapped, before = len(heard), len(played)
    for n in range(10, 20):
        s.receive(packet(n, pt=9, payload=wire[n]), PEER, 0.02 * n)
        frame = s.caller_frame(0.02 * n + 0.06)
        if frame is not None:
            played.append(frame)
    # the caller's frames at arrival and at playout, 24 kHz from the change on; the tone
    # goes on at its level across it (the G.722 decoders kept their state)
    assert {len(f) for f in heard[tapped:] + played[before:]} == {960}
    for frames in (heard, played):
        levels = [level_db(f, 16000 if len(f) == 640 else 24000) for f in frames[3:]]
        assert max(levels) - min(levels) < 1.5, levels
    # the agent's 24 kHz frames go out as 160 octets of G.722 a packet, the stream's
    # timestamps going on; the far end decodes the tone at its level across the change
    far = G722.decoder()
    assert s.use_agent_format(PCM16_16K, PCM16_16K)  # back (the same caller_format: one)
    assert s.heard_format == PCM16_16K
    out = [s.packets_for(f, 0.5 + 0.02 * k) for k, f in enumerate(tone(HZ, 10, 16000))]
    assert s.use_agent_format(PCM16_24K)
    out += [s.packets_for(f, 0.7 + 0.02 * k) for k, f in enumerate(tone(HZ, 20, 24000)[10:])]
    sent = [RtpPacket.parse(p) for (p,) in out]
    assert {(p.payload_type, len(p.payload)) for p in sent} == {(9, 160)}
    assert [(b.timestamp - a.timestamp) % 2**32 for a, b in pairwise(sent)] == [160] * 19
    decoded = [level_db(far.decode(p.payload), 16000) for p in sent]
    assert max(decoded[3:]) - min(decoded[3:]) < 1.5, decoded


def test_a_mu_law_agent_and_a_24_khz_one_on_a_pcmu_call() -> None:
    """An 8 kHz μ-law line's agent on a G.711 call gets the wire's octets as they are; a
    24 kHz one after it is converted to; back to μ-law, as they are again."""
    s = MediaSession(StreamParams(PEER), now=0.0)
    wire = [PCMU.encode(f) for f in tone(HZ, 12)]
    for n in range(4):
        s.receive(packet(n, payload=wire[n]), PEER, 0.02 * n)
    first = s.caller_frame(0.1)
    assert first == wire[0]  # passed through
    assert s.use_agent_format(PCM16_24K)
    for n in range(4, 8):
        s.receive(packet(n, payload=wire[n]), PEER, 0.02 * n)
    wide = [s.caller_frame(0.12 + 0.02 * k) for k in range(4)]
    assert all(f is not None and len(f) == 960 for f in wide)
    (out,) = s.packets_for(tone(HZ, 2, 24000)[1], 0.2)
    assert len(RtpPacket.parse(out).payload) == 160
    assert g711.rms_dbfs(RtpPacket.parse(out).payload) > -20
    assert s.use_agent_format(ULAW_8K)
    for n in range(8, 12):
        s.receive(packet(n, payload=wire[n]), PEER, 0.02 * n)
    s.caller_frame(0.2)
    assert s.caller_frame(0.22) in wire[5:12]  # the octets as they came
    (same,) = s.packets_for(wire[0], 0.24)
    assert RtpPacket.parse(same).payload == wire[0]


def test_dtmf_and_hold_do_not_notice_the_change() -> None:
    s, _, wire = g722_call()
    s.receive(packet(0, pt=9, payload=wire[0]), PEER, 0.0)
    assert s.use_agent_format(PCM16_24K, ULAW_8K)  # 24 kHz out, 8 kHz μ-law in
    assert s.heard_format == ULAW_8K
    silence = bytes(PCM16_24K.frame_bytes)
    held = StreamParams(PEER, codec=G722, payload_type=9, telephone_event_pt=101, send=False)
    s.update(held, 0.02)
    assert s.packets_for(silence, 0.04) == []  # on hold: nothing goes out
    s.update(StreamParams(PEER, codec=G722, payload_type=9, telephone_event_pt=101), 0.06)
    s.receive(packet(1, pt=9, payload=wire[1]), PEER, 0.06)
    (back,) = s.packets_for(silence, 0.08)
    assert len(RtpPacket.parse(back).payload) == 160  # the new agent's format still
    for n, end in enumerate([False, True, True, True], start=2):  # a "5" (RFC 4733)
        payload = bytes([5, (0x80 if end else 0) | 10]) + (160 * n).to_bytes(2, "big")
        s.receive(RtpPacket(payload_type=101, sequence_number=n, timestamp=320,
                            payload=payload).serialize(), PEER, 0.02 * n + 0.06)  # fmt: skip
    assert s.take_digits() == ["5"]
    s.send_dtmf("7")
    (out,) = s.packets_for(silence, 0.2)
    sent = RtpPacket.parse(out)
    assert sent.payload_type == 101 and sent.payload[0] == 7
