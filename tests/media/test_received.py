"""CallerAudio: the two stages a leg's caller audio goes through, as on a SIP call."""

from __future__ import annotations

from sipgw.media import g711
from sipgw.media.codecs import PCMA, PCMU
from sipgw.media.jitterbuffer import JitterBufferConfig
from sipgw.media.received import CallerAudio
from sipgw.media.rtp import RtpPacket


def frame(n: int) -> bytes:
    return bytes([(n * 7 + i) % 120 + 1 for i in range(160)])


def test_packets_reach_the_tick_through_the_buffer_and_listeners_at_arrival() -> None:
    audio = CallerAudio(JitterBufferConfig(codec=PCMA, min_delay=0.060))
    assert audio.jitter.config.codec is PCMU and audio.jitter.config.min_delay == 0.060
    heard: list[bytes] = []
    audio.on_audio = heard.append
    out = []
    for n in range(10):
        audio.push(
            RtpPacket(sequence_number=n, timestamp=160 * n, ssrc=1, payload=frame(n)), n * 0.02
        )
        assert heard[-1] == frame(n)  # at arrival, no playout delay
        out.append(audio.caller_frame(n * 0.02))
    assert [f for f in out if f is not None] == [frame(n) for n in range(7)]  # 60 ms later
    audio.poll_ingress(1.0)  # nothing since: the listeners hear the pause pass
    assert heard[-1] == g711.silence_frame("PCMU")
