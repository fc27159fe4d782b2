"""media/codecs/g722.py: G.722 as a codec type whose calls each get their own ADPCM state."""

from __future__ import annotations

import math
from array import array

from sipgw.media import g711
from sipgw.media.codecs import G722, PCM16_16K, PCMU, ULAW_8K
from sipgw.media.codecs.convert import Reformat, ToAgent, ToWire
from sipgw.media.ingress import IngressAudio
from sipgw.media.jitterbuffer import JitterBuffer, JitterBufferConfig
from sipgw.media.rtp import RtpPacket


def tone(hz: float, frames: int, rate: int = 16000, level: float = 8000.0) -> list[bytes]:
    """``frames`` 20 ms frames of a sine at ``rate``, s16le."""
    n = rate // 50
    return [
        array(
            "h", (int(level * math.sin(2 * math.pi * hz * (f * n + i) / rate)) for i in range(n))
        ).tobytes()
        for f in range(frames)
    ]


def snr_db(sent: bytes, got: bytes, delay: int) -> float:
    """Signal to error of ``got`` against ``sent`` shifted by ``delay`` samples."""
    a, b = array("h", sent), array("h", got)
    pairs = list(zip(a[: len(a) - delay], b[delay:], strict=True))[320:]
    signal = sum(x * x for x, _ in pairs)
    noise = sum((x - y) ** 2 for x, y in pairs) or 1
    return 10 * math.log10(signal / noise)


def test_its_wire_description_is_rfc_3551s() -> None:
    # RFC 3551 §4.5.2: static type 9, an RTP clock of 8000 although it samples at 16 kHz.
    assert (G722.name, G722.payload_type, G722.clock_rate) == ("G722", 9, 8000)
    assert G722.sample_rate == 16000 and G722.frame_bytes == 160
    assert G722.native_format is None and not G722.conceals


def test_a_stream_round_trips_at_16_khz_through_per_call_state() -> None:
    frames = tone(3000, 25)  # 3 kHz: above what 8 kHz audio can carry
    encoder, decoder = G722.encoder(), G722.decoder()
    wire = [encoder.encode(f) for f in frames]
    assert all(len(w) == 160 for w in wire)
    out = b"".join(decoder.decode(w) for w in wire)
    assert len(out) == 640 * 25
    # libg722's QMF filters delay the audio by 22 samples; the ADPCM is then close.
    assert snr_db(b"".join(frames), out, 22) > 20


def test_each_call_and_direction_has_its_own_state() -> None:
    assert G722.decoder() is not G722.decoder() and G722.encoder() is not G722.encoder()
    assert PCMU.decoder() is PCMU and PCMU.encoder() is PCMU  # G.711: nothing per call
    frames = tone(440, 10)
    one, two = G722.encoder(), G722.encoder()
    first = [one.encode(f) for f in frames]
    assert [two.encode(f) for f in frames] == first  # a second call is not disturbed
    # A state shared by two streams would carry one's predictor into the other's frames:
    shared = G722.encoder()
    mixed = [shared.encode(f) for pair in zip(frames, frames, strict=True) for f in pair]
    assert mixed[0::2] != first


def test_the_converters_keep_their_own_decoder_and_encoder() -> None:
    frames = tone(3000, 20)
    encoder = G722.encoder()
    wire = [encoder.encode(f) for f in frames]
    playout, tap = ToAgent(G722, PCM16_16K), ToAgent(G722, PCM16_16K)
    heard = [playout.convert(w) for w in wire]
    assert [tap.convert(w) for w in wire] == heard  # two decoders, the same stream
    assert snr_db(b"".join(frames), b"".join(heard), 22) > 20
    # An 8 kHz μ-law agent on a G.722 call: decoded, resampled, both ways.
    narrow = ToAgent(G722, ULAW_8K).convert(wire[5])
    assert len(narrow) == 160
    back = ToWire(G722, ULAW_8K).convert(g711.linear_to_ulaw(tone(400, 1, 8000)[0]))
    assert len(back) == 160


def test_silence_decodes_to_silence() -> None:
    decoder = G722.decoder()
    decoder.decode(G722.encode(tone(440, 1)[0]))
    decoder.decode(G722.silence(160))
    quiet = array("h", decoder.decode(G722.silence(160)))
    assert max(abs(s) for s in quiet) <= 64  # -54 dBFS at most, whatever came before


def test_reformat_narrows_a_16_khz_caller_for_the_8_khz_detectors() -> None:
    narrow = Reformat(PCM16_16K, ULAW_8K)
    out = [narrow.convert(f) for f in tone(400, 5)]
    assert all(len(f) == 160 for f in out)
    assert g711.rms_dbfs(out[-1]) > -20
    assert Reformat(ULAW_8K, ULAW_8K).passthrough


def test_a_lost_g722_packet_is_filled_with_its_silence_not_pitch_concealment() -> None:
    # Pitch concealment works on one octet a sample; G.722 is two and stateful.
    buffer = JitterBuffer(JitterBufferConfig(codec=G722, min_delay=0.04))
    encoder = G722.encoder()
    frames = [encoder.encode(f) for f in tone(440, 6)]
    now = 0.0
    for seq, frame in enumerate(frames):
        if seq != 3:
            packet = RtpPacket(payload_type=9, sequence_number=seq, timestamp=seq * 160,
                               ssrc=1, payload=frame)  # fmt: skip
            buffer.push(packet, now + seq * 0.02)
    played = [buffer.pop(0.04 + i * 0.02) for i in range(6)]
    assert played[3] == G722.silence(160)
    assert [p for i, p in enumerate(played) if i != 3] == [
        f for i, f in enumerate(frames) if i != 3
    ]
    ingress = IngressAudio(G722)
    assert ingress is not None
