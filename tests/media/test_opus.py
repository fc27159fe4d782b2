"""OpusDecoder: 48 kHz Opus packets in, 8 kHz μ-law of the same duration out."""

from __future__ import annotations

import fractions

from av import CodecContext
from av.audio.frame import AudioFrame

from sipgw.app.evaluation.audio import dominant_tone, tone_frames
from sipgw.media import g711
from sipgw.media.opus import OpusDecoder


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
