"""media/codecs/opus.py: Opus on SIP (RFC 7587) as a codec type, decoded at the edge."""

from __future__ import annotations

import math
from array import array

import pytest

from sipgw.app.codecs import codec_list
from sipgw.app.evaluation.audio import goertzel_dbfs
from sipgw.media import g711
from sipgw.media.codecs import CODECS, OPUS, ULAW_16K, codec_named
from sipgw.media.codecs.base import PCM16_16K, PCM16_24K, ULAW_8K
from sipgw.media.codecs.convert import ToAgent, ToWire


def tone(hz: float, samples: int, rate: int = 16000, start: int = 0) -> bytes:
    """s16le at ``rate``, -12 dBFS."""
    return array(
        "h", (int(8200 * math.sin(2 * math.pi * hz * (start + i) / rate)) for i in range(samples))
    ).tobytes()


def test_it_is_described_as_rfc_7587_says() -> None:
    assert codec_named("opus") is OPUS and CODECS["OPUS"] is OPUS
    # a dynamic payload type, "opus/48000/2" whatever is sent (§7), a 48000 Hz RTP clock
    assert (OPUS.payload_type, OPUS.rtpmap_name, OPUS.clock_rate, OPUS.channels) == (
        None, "opus", 48000, 2,
    )  # fmt: skip
    params = dict(p.split("=") for p in (OPUS.fmtp or "").split(";"))
    assert params == {
        "maxplaybackrate": "16000", "sprop-maxcapturerate": "16000", "stereo": "0",
        "sprop-stereo": "0", "maxaveragebitrate": "24000",
    }  # fmt: skip
    # its octets are not ticks: carried as 16 kHz μ-law, one octet a sample
    assert OPUS.opaque and OPUS.carried is ULAW_16K
    assert (ULAW_16K.clock_rate, ULAW_16K.frame_bytes, ULAW_16K.opaque) == (16000, 320, False)
    assert OPUS.encode_rates == (8000, 16000) and OPUS.sample_rate == 16000


def test_a_packet_is_decoded_at_the_edge_into_16_khz_ulaw_that_keeps_its_wideband() -> None:
    encoder, decoder = OPUS.encoder(16000), OPUS.edge_decoder()
    carried = [decoder.decode(encoder.encode(tone(5000, 320, start=320 * n))) for n in range(25)]
    assert all(len(c) == 320 for c in carried)  # 20 ms at 16 kHz, one octet a sample
    pcm = g711.ulaw_to_linear(b"".join(carried[5:]))
    samples = array("h", pcm)
    # 5 kHz: only a wideband stream carries it (maxplaybackrate=16000, cutoff 8 kHz)
    assert goertzel_dbfs(samples, 5000, 16000) > -20
    assert decoder.failed == 0
    # timestamps move to the carried 16 kHz clock: 960 ticks of 48 kHz are 320
    assert (decoder.timestamp(960) - decoder.timestamp(0)) & 0xFFFFFFFF == 320


def test_each_call_and_direction_has_its_own_state() -> None:
    assert OPUS.encoder() is not OPUS.encoder()
    assert OPUS.edge_decoder() is not OPUS.edge_decoder()
    one, two = OPUS.encoder(8000), OPUS.encoder(8000)
    frames = [tone(400, 160, 8000, 160 * n) for n in range(3)]
    for frame in frames[:2]:
        one.encode(frame)
    # a stream's third packet differs from a fresh encoder's first of the same audio
    assert one.encode(frames[2]) != two.encode(frames[2])


def test_the_converters_encode_at_the_agents_rate_and_decode_from_the_carried_codec() -> None:
    to_wire = ToWire(OPUS, ULAW_8K)  # the assistant's 8 kHz μ-law: encoded at 8 kHz
    packet = to_wire.convert(g711.linear_to_ulaw(tone(300, 160, 8000)))
    assert 0 < len(packet) < 160
    assert to_wire.silence() and to_wire.silence() != packet  # the encoder's own silence
    with pytest.raises(ValueError, match="Opus frames are 20 ms: 640 octets, not 320"):
        ToWire(OPUS, PCM16_16K).convert(bytes(320))
    to_agent = ToAgent(OPUS.carried, PCM16_16K)
    assert not to_agent.passthrough and len(to_agent.convert(ULAW_16K.silence(320))) == 640


def test_a_24_khz_agent_s_audio_is_encoded_at_16_khz_and_the_caller_s_resampled_to_24() -> None:
    """The speech-to-speech agents on an Opus call: their 24 kHz goes to the encoder at 16 kHz
    (its wideband kept: a 5 kHz tone), and the caller's carried 16 kHz reaches them at 24."""
    to_wire, edge = ToWire(OPUS, PCM16_24K), OPUS.edge_decoder()
    carried = [edge.decode(to_wire.convert(tone(5000, 480, 24000, 480 * n))) for n in range(25)]
    heard = array("h", g711.ulaw_to_linear(b"".join(carried[5:])))
    assert goertzel_dbfs(heard, 5000, 16000) > -20
    to_agent = ToAgent(OPUS.carried, PCM16_24K)
    frames = [to_agent.convert(c) for c in carried]
    assert all(len(f) == 960 for f in frames)  # 20 ms at 24 kHz
    assert goertzel_dbfs(array("h", b"".join(frames[5:])), 5000, 24000) > -22


def test_one_shot_decode_and_encode_serve_a_chunks_level() -> None:
    packet = OPUS.encode(tone(1000, 320))
    assert len(OPUS.decode(packet)) == 640
    assert OPUS.rms_dbfs(packet) > -30


def test_listing_opus_without_pyav_stops_start_up_with_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert OPUS.unavailable() is None  # PyAV is installed here
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    reason = "needs PyAV, which is not installed: pip install 'sipgw\\[opus\\]'"
    assert OPUS.unavailable() == reason.replace("\\", "")
    with pytest.raises(ValueError, match=f"codec 'Opus' {reason}"):
        codec_list("PCMU, Opus")
    assert codec_list("PCMU,G722") == ("PCMU", "G722")  # the others need nothing
