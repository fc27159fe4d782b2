"""media/codecs/convert.py: the wire codec to the agent's format and back, in one place."""

from __future__ import annotations

import math

import pytest

from sipgw.media import g711
from sipgw.media.codecs import PCM16_8K, PCM16_16K, PCMA, PCMU, ULAW_8K, Codec
from sipgw.media.codecs.convert import ToAgent, ToWire


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
