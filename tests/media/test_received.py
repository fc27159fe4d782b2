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


def _ticked_call(stop_polling_at: int, resume_at: float) -> tuple[list[bytes], CallerAudio]:
    """Packets and polls every 20 ms for 10 ticks; then the polls stop from tick
    ``stop_polling_at`` until ``resume_at``, where five catch-up ticks poll at the same time
    before the 15 packets sent meanwhile are read."""
    audio = CallerAudio()
    heard: list[bytes] = []
    audio.on_audio = heard.append
    for n in range(10):
        audio.push(RtpPacket(sequence_number=n, timestamp=160 * n, ssrc=1, payload=frame(n)),
                   n * 0.02)  # fmt: skip
        audio.poll_ingress(n * 0.02)
    for n in range(10, stop_polling_at):
        audio.poll_ingress(n * 0.02)
    for _ in range(5):
        audio.poll_ingress(resume_at)
    for n in range(10, 25):
        audio.push(RtpPacket(sequence_number=n, timestamp=160 * n, ssrc=1, payload=frame(n)),
                   resume_at + 0.001)  # fmt: skip
    audio.poll_ingress(resume_at + 0.02)
    return heard, audio


def test_a_stall_of_the_gateway_s_own_is_not_heard_as_the_caller_s_silence() -> None:
    # The gateway runs nothing from 0.18 s to 0.50 s while the caller talks on: the late
    # ticks find no audio, but it is only unread; the listeners hear all of it, no silence.
    heard, audio = _ticked_call(stop_polling_at=10, resume_at=0.50)
    assert heard == [frame(n) for n in range(25)]
    assert audio.ingress.filled_frames == 0


def test_the_caller_s_audio_held_up_on_the_way_is_heard_as_a_pause() -> None:
    # The same audio late by the same time while the gateway ticks on: the listeners hear
    # the pause pass (silence at real-time pace), then the audio after it.
    heard, audio = _ticked_call(stop_polling_at=25, resume_at=0.50)
    filled = audio.ingress.filled_frames  # concealment fading out, then silence
    assert heard[:10] == [frame(n) for n in range(10)] and filled > 5
    assert g711.silence_frame("PCMU") in heard[10 : 10 + filled]
    assert len(heard) == 10 + filled + 15 and heard[-1] == frame(24)  # the audio after it
