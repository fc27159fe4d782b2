"""BrowserAudio: decrypted RTP from aiortc through our jitter buffer, ingress and statistics."""

from __future__ import annotations

from sipgw.media import g711
from sipgw.media.browser import BrowserAudio
from sipgw.media.rtp import RtpPacket


def frame(n: int) -> bytes:
    return bytes([(n * 7 + i) % 120 + 1 for i in range(160)])


def packet(n: int, pt: int = 0, payload: bytes | None = None, ts_step: int = 160) -> RtpPacket:
    return RtpPacket(payload_type=pt, sequence_number=n, timestamp=1000 + n * ts_step,
                     ssrc=7, payload=frame(n) if payload is None else payload)  # fmt: skip


def play(audio: BrowserAudio, packets: list[RtpPacket], ticks: int) -> list[bytes]:
    out = []
    for i in range(ticks):
        now = 0.020 * i
        if i < len(packets):
            audio.receive(packets[i], now)
        f = audio.caller_frame(now)
        if f is not None:
            out.append(f)
    return out


def test_pcmu_comes_out_unchanged_and_is_counted() -> None:
    audio = BrowserAudio({0: "PCMU", 111: "opus"}, 0.0)
    heard: list[bytes] = []
    audio.on_audio = heard.append
    out = play(audio, [packet(n) for n in range(20)], 40)
    assert out[:20] == [frame(n) for n in range(20)] and heard[:20] == out[:20]
    assert audio.quality().packets_expected == 20
    assert audio.idle_for(1.0) == 1.0 - 0.020 * 19


def test_pcma_is_converted_once_and_unknown_payloads_are_dropped() -> None:
    audio = BrowserAudio({8: "PCMA"}, 0.0)
    alaw = [g711.ulaw_to_alaw(frame(n)) for n in range(10)]
    out = play(audio, [packet(n, pt=8, payload=alaw[n]) for n in range(10)], 30)
    assert out[:10] == [g711.alaw_to_ulaw(a) for a in alaw]
    audio.receive(packet(11, pt=0), 1.0)
    assert audio.stats.unknown_payload == 1


class HalvingDecoder:
    """Stands in for Opus: a 48 kHz clock, 320-byte payloads made 160-byte μ-law."""

    def timestamp(self, rtp_timestamp: int) -> int:
        return rtp_timestamp // 6

    def decode(self, payload: bytes) -> bytes:
        return payload[::2] if payload else b""


def test_another_codec_goes_through_its_decoder_onto_the_8k_clock() -> None:
    audio = BrowserAudio({111: "opus"}, 0.0, decoders={111: HalvingDecoder()})
    packets = [
        packet(n, pt=111, payload=bytes(b for b in frame(n) for _ in (0, 1)), ts_step=960)
        for n in range(10)
    ]
    out = play(audio, packets, 30)
    assert out[:10] == [frame(n) for n in range(10)]
    audio.receive(packet(10, pt=111, payload=b""), 1.0)
    assert audio.stats.undecodable == 1
