"""media/codecs/convert.py: the wire codec to the agent's format and back, in one place."""

from __future__ import annotations

import math

import pytest

from sipgw.media import g711
from sipgw.media.codecs import G722, PCM16_8K, PCM16_16K, PCM16_24K, PCMA, PCMU, ULAW_8K, Codec
from sipgw.media.codecs.convert import (
    Conversions,
    Reformat,
    ToAgent,
    ToWire,
    conversions,
    reformatted,
)


def tone(hz: float, frames: int, rate: int = 8000, amplitude: int = 8000) -> list[bytes]:
    """20 ms frames of a sine, s16le at ``rate``."""
    size = rate // 50
    step = 2 * math.pi * hz / rate
    samples = [round(amplitude * math.sin(step * n)) for n in range(size * frames)]
    raw = b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
    return [raw[k * size * 2 : (k + 1) * size * 2] for k in range(frames)]


def crossings(pcm: bytes) -> int:
    samples = memoryview(pcm).cast("h")
    return sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))


def test_mu_law_to_the_default_format_is_passed_through() -> None:
    frame = PCMU.encode(tone(440, 1)[0])
    to_agent, to_wire = ToAgent(PCMU, ULAW_8K), ToWire(PCMU, ULAW_8K)
    assert to_agent.passthrough and to_wire.passthrough
    assert to_agent.convert(frame) is frame and to_wire.convert(frame) is frame


def test_a_law_is_one_table_each_way() -> None:
    alaw = PCMA.encode(tone(440, 1)[0])
    to_agent, to_wire = ToAgent(PCMA, ULAW_8K), ToWire(PCMA, ULAW_8K)
    assert not to_agent.passthrough and not to_wire.passthrough
    ulaw = to_agent.convert(alaw)
    assert ulaw == g711.alaw_to_ulaw(alaw)
    assert to_wire.convert(ulaw) == g711.ulaw_to_alaw(ulaw)


@pytest.mark.parametrize("codec", [PCMU, PCMA])
def test_16_bit_at_the_wire_rate_is_the_decoded_audio(codec: Codec) -> None:
    wire = codec.encode(tone(440, 1)[0])
    pcm = ToAgent(codec, PCM16_8K).convert(wire)
    assert pcm == codec.decode(wire) and len(pcm) == 320
    assert ToWire(codec, PCM16_8K).convert(pcm) == wire


def test_16_khz_agents_get_the_tone_resampled_without_seams() -> None:
    frames = [PCMU.encode(f) for f in tone(440, 25)]
    to_agent = ToAgent(PCMU, PCM16_16K)
    out = [to_agent.convert(f) for f in frames]
    # The state carries across frames: frame by frame is what one call on the whole gives.
    # The state is primed with 20 ms of silence (whose 319 samples out are dropped), so
    # that every 20 ms in gives 20 ms out, the first frame too (G.722 packs whole frames).
    primed = bytes(320) + PCMU.decode(b"".join(frames))
    whole = g711.resample(primed, 8000, 16000, None)[0][319 * 2 :]
    assert b"".join(out) == whole
    assert all(len(f) == 640 for f in out)
    joined = b"".join(out)
    assert crossings(joined) == pytest.approx(2 * 440 * 0.5, abs=3)  # still 440 Hz
    back = ToWire(PCMU, PCM16_16K)
    wire = b"".join(back.convert(f) for f in out)
    level = g711.rms_dbfs(b"".join(frames)[800:], "PCMU")
    assert g711.rms_dbfs(wire[800:], "PCMU") == pytest.approx(level, abs=0.5)


def goertzel(pcm: bytes, hz: float, rate: int) -> float:
    """The amplitude of ``hz`` in s16le ``pcm`` (a sine of amplitude A gives about A)."""
    samples = memoryview(pcm).cast("h")
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for sample in samples:
        s1, s2 = sample + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(samples)


def rms_db(pcm: bytes) -> float:
    return g711.linear_dbfs(pcm)


@pytest.mark.parametrize(
    ("hz", "up_db", "round_trip_db"),
    [(440.0, 0.1, 0.1), (1000.0, 0.2, 0.3), (2000.0, 0.5, 0.8), (3400.0, 1.3, 2.0),
     (6000.0, 4.0, 6.5)],
)  # fmt: skip
def test_16_to_24_khz_and_back_keeps_a_tone_s_frequency_and_level(
    hz: float, up_db: float, round_trip_db: float
) -> None:
    """The speech-to-speech agents on an HD-voice call: 16 kHz in, 24 kHz to the session,
    its 24 kHz back to 16 kHz; frame by frame, state kept; every 20 ms gives 20 ms. The
    resampler is convert.py's (``audioop.ratecv``, interpolating): the speech band keeps
    its level within 1 dB up to 2 kHz; it droops above (the bounds are what it does, so
    that a better filter shows here as a change)."""
    frames = tone(hz, 50, 16000)  # 1 s
    up = Reformat(PCM16_16K, PCM16_24K)
    wide = [up.convert(f) for f in frames]
    assert all(len(f) == PCM16_24K.frame_bytes == 960 for f in wide)
    down = Reformat(PCM16_24K, PCM16_16K)
    back = [down.convert(f) for f in wide]
    assert all(len(f) == 640 for f in back)
    source, at_24k, at_16k = b"".join(frames), b"".join(wide), b"".join(back)
    level = goertzel(source[3200:], hz, 16000)
    for pcm, rate, loss_db in ((at_24k, 24000, up_db), (at_16k, 16000, round_trip_db)):
        steady = pcm[len(pcm) // 10 :]  # past the first 100 ms
        kept = goertzel(steady, hz, rate)
        assert -loss_db <= 20 * math.log10(kept / level) <= 0.1
        # its own frequency, not another: nearly all the energy is at ``hz``
        rms = 10 ** (rms_db(steady) / 20) * 32768
        assert kept**2 / 2 > 0.8 * rms**2
        assert crossings(steady) == pytest.approx(2 * hz * len(steady) / 2 / rate, abs=3)


def test_g722_calls_give_a_24_khz_agent_24_khz_and_take_it_back() -> None:
    """The decision convert.py makes once per call: G.722 (16 kHz) to a 24 kHz agent is
    decode then 16 to 24 kHz; back, 24 to 16 kHz then the G.722 encoder."""
    frames = tone(5000.0, 50, 16000)  # above 4 kHz: only wideband carries it
    encoder = G722.encoder()
    wire = [encoder.encode(f) for f in frames]
    to_agent = ToAgent(G722, PCM16_24K)
    assert not to_agent.passthrough
    heard = [to_agent.convert(packet) for packet in wire]
    assert all(len(f) == 960 for f in heard)
    steady = b"".join(heard)[9600:]
    assert goertzel(steady, 5000.0, 24000) > 0.6 * 8000  # G.722 and the resampler's droop
    to_wire = ToWire(G722, PCM16_24K)
    packets = [to_wire.convert(f) for f in heard]
    assert all(len(p) == 160 for p in packets)  # 20 ms of G.722 each
    decoder = G722.decoder()
    played = b"".join(decoder.decode(p) for p in packets)[6400:]
    assert goertzel(played, 5000.0, 16000) > 0.5 * 8000


def levels(pcm_frames: list[bytes], hz: float, rate: int) -> list[float]:
    """Each frame's amplitude of ``hz``."""
    return [goertzel(frame, hz, rate) for frame in pcm_frames]


@pytest.mark.parametrize("keep", [True, False])
def test_a_new_agent_format_goes_on_with_the_codec_s_state(keep: bool) -> None:
    """A hand-off from a 16 kHz agent to a 24 kHz one on a G.722 call: the conversions are
    decided again (``before``: the ones replaced), the wire's encoder and decoders going on.
    A fresh G.722 encoder mid-stream is heard: the far end's decoder, still on the old
    state, plays a burst (``keep=False`` shows the check can fail)."""
    first = conversions(G722, PCM16_16K)
    assert first.to_wire is not None and first.to_agent is not None and first.tap is not None
    then = conversions(G722, PCM16_24K, before=first if keep else None)
    assert then.to_wire is not None and then.to_agent is not None and then.tap is not None
    # to the wire: 10 frames at 16 kHz, then the same 1 kHz tone at 24 kHz
    packets = [first.to_wire.convert(f) for f in tone(1000, 10, 16000)]
    packets += [then.to_wire.convert(f) for f in tone(1000, 20, 24000)[10:]]
    decoder = G722.decoder()  # the far end's, one for the whole call
    played = levels([decoder.decode(p) for p in packets], 1000, 16000)
    # from the wire: one encoder for the call, the agent's side changing at frame 10
    encoder = G722.encoder()
    wire = [encoder.encode(f) for f in tone(1000, 20, 16000)]
    heard = [first.to_agent.convert(p) for p in wire[:10]]
    heard += [then.to_agent.convert(p) for p in wire[10:]]
    assert [len(f) for f in heard] == [640] * 10 + [960] * 10
    got = levels(heard[:10], 1000, 16000) + levels(heard[10:], 1000, 24000)
    for level in (played, got):
        steady = level[5]
        seam = level[9:14]  # the frames around the change
        assert all(abs(20 * math.log10(x / steady)) < 1.0 for x in seam) == keep, level


NOTHING = Conversions(None, None, None)


def test_a_mu_law_agent_on_a_pcmu_call_converts_nothing_before_or_after_another() -> None:
    """An 8 kHz μ-law agent on a PCMU call has nothing to convert; one at 24 kHz after it
    gets converters; back to μ-law, nothing again."""
    assert conversions(PCMU, ULAW_8K) == NOTHING
    wide = conversions(PCMU, PCM16_24K, before=conversions(PCMU, ULAW_8K))
    assert wide.to_agent is not None and wide.tap is not None and wide.to_wire is not None
    assert len(wide.to_agent.convert(PCMU.encode(tone(440, 1)[0]))) == 960
    assert conversions(PCMU, ULAW_8K, before=wide) == NOTHING
    # a 16 kHz agent hearing 8 kHz μ-law (the assistant's narrow STT): heard in μ-law
    mixed = conversions(G722, PCM16_16K, ULAW_8K)
    assert mixed.to_agent is not None and mixed.to_wire is not None
    assert len(mixed.to_agent.convert(G722.encode(tone(440, 1, 16000)[0]))) == 160


def test_frames_kept_for_the_next_agent_are_converted_as_one_stream() -> None:
    """The caller's frames a hand-off kept, heard at 16 kHz by the first agent, for a
    24 kHz one: each 20 ms stays 20 ms, the tone is the same, and frame by frame is what
    the whole run gives (one resampler through them all, no seam between frames)."""
    frames = tone(700, 25, 16000)
    out = reformatted(frames, PCM16_16K, PCM16_24K)
    assert [len(f) for f in out] == [960] * 25
    whole = Reformat(PCM16_16K, PCM16_24K).convert(b"".join(frames))
    assert b"".join(out) == whole
    assert crossings(b"".join(out)) == pytest.approx(2 * 700 * 0.5, abs=3)
    narrow = reformatted(frames, PCM16_16K, ULAW_8K)  # to an 8 kHz μ-law agent
    assert [len(f) for f in narrow] == [160] * 25
    assert reformatted(frames, PCM16_16K, PCM16_16K) == frames  # the same format: as they are
