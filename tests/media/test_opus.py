"""media/opus.py: Opus packets decoded to μ-law at 8 or 16 kHz, and encoded for a SIP peer."""

from __future__ import annotations

import fractions

import pytest
from av import CodecContext
from av.audio.frame import AudioFrame

from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.media import g711
from sipgw.media.opus import OpusDecoder, OpusEncoder, OpusSendParams


def opus_packets(hz: float, seconds: float) -> list[bytes]:
    """A tone as a browser would send it: 20 ms Opus packets at 48 kHz (encoded with libopus)."""
    encoder = CodecContext.create("libopus", "w")
    encoder.bit_rate = 32_000
    encoder.format = "s16"
    encoder.layout = "mono"
    encoder.sample_rate = 48_000
    encoder.time_base = fractions.Fraction(1, 48_000)
    packets: list[bytes] = []
    for n, ulaw in enumerate(tone_frames(hz, seconds)):
        pcm = g711.ulaw_to_linear(ulaw)
        wide = b"".join(pcm[i : i + 2] * 6 for i in range(0, len(pcm), 2))  # 8 -> 48 kHz, crude
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(wide)
        frame.sample_rate = 48_000
        frame.pts = n * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


def test_each_packet_comes_out_as_20_ms_of_the_tone() -> None:
    decoder = OpusDecoder()
    out = [decoder.decode(p) for p in opus_packets(500, 1.0)]
    assert out and all(len(frame) == 160 for frame in out)
    assert sum(dominant_tone(f, (500, 1500), share=0.3) == 500 for f in out[5:]) >= 0.9 * len(
        out[5:]
    )
    assert decoder.failed == 0


def test_timestamps_move_to_the_8k_clock_across_the_32_bit_wrap() -> None:
    decoder = OpusDecoder()
    assert decoder.timestamp(2**32 - 960) == (2**32 - 960) // 6
    assert decoder.timestamp(0) == (2**32 // 6) & 0xFFFFFFFF  # continues, no jump back
    assert (decoder.timestamp(960) - decoder.timestamp(0)) & 0xFFFFFFFF == 160


def test_a_sip_calls_decoder_gives_16_khz_and_its_clock() -> None:
    decoder = OpusDecoder(16000)
    out = [decoder.decode(p) for p in opus_packets(500, 0.4)]
    assert out and all(len(frame) == 320 for frame in out)
    assert (decoder.timestamp(960) - decoder.timestamp(0)) & 0xFFFFFFFF == 320
    assert decoder.decode(b"\xff\xff\xff") == b"" and decoder.failed == 1  # corrupt: dropped
    # an empty payload is no packet (RFC 6716 §3.4 R1); to PyAV it would end the stream
    assert decoder.decode(b"") == b"" and decoder.failed == 2
    assert len(decoder.decode(opus_packets(500, 0.02)[0])) == 320  # and decoding goes on


def test_the_encoder_makes_one_packet_a_20_ms_frame_at_the_agents_rate() -> None:
    for rate in (8000, 16000):
        encoder = OpusEncoder(rate)
        packets = [encoder.encode(bytes(rate // 50 * 2)) for _ in range(5)]
        assert all(0 < len(p) < 100 for p in packets)
        assert all(p[0] >> 3 in range(0, 32) for p in packets)  # a TOC octet (RFC 6716 §3.1)
    with pytest.raises(ValueError, match="not 48000"):
        OpusEncoder(48000)


def test_the_peers_fmtp_sets_what_we_send() -> None:
    plain = OpusSendParams(None, 16000)
    assert (plain.bitrate, plain.cutoff, plain.fec) == (24000, 8000, False)
    asked = OpusSendParams("maxplaybackrate=8000; maxaveragebitrate=12000;useinbandfec=1", 16000)
    assert (asked.bitrate, asked.cutoff, asked.fec) == (12000, 4000, True)
    # RFC 7587 §6.1: a receiver ignores what it does not understand; out-of-range is ignored
    odd = OpusSendParams("maxaveragebitrate=1;maxplaybackrate=x;useinbandfec;foo=bar", 16000)
    assert (odd.bitrate, odd.cutoff, odd.fec) == (24000, 8000, False)
    assert OpusSendParams("maxaveragebitrate=64000", 8000).bitrate == 24000  # a cap, not a goal
    assert OpusSendParams(None, 8000).cutoff == 4000  # 8 kHz audio is narrowband
    assert OpusEncoder(16000, "useinbandfec=1;maxaveragebitrate=16000").params.fec
