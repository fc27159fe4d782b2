"""The toolkit's audio: tones, G.711 frames and what a received frame carries."""

from __future__ import annotations

import math

import pytest

from sipgw.app.evaluation.audio import (
    analyse_samples,
    decode,
    dominant_tone,
    encode,
    first_audio_after,
    goertzel_dbfs,
    tone_frame,
    tone_frames,
    tone_samples,
    tone_share,
    tone_spans,
)
from sipgw.media import g711


def test_tone_frames_are_one_continuous_tone_at_its_level() -> None:
    frames = tone_frames(1000, 1.5)
    assert len(frames) == 75 and {len(f) for f in frames} == {160}
    assert b"".join(frames) == encode(tone_samples(1000, 1.5, -15.0))
    assert g711.rms_dbfs(frames[10]) == pytest.approx(-15.0, abs=0.3)
    pcma = tone_frames(800, 0.2, dbfs=-20.0, codec="PCMA")
    assert goertzel_dbfs(decode(b"".join(pcma), "PCMA"), 800) == pytest.approx(-20.0, abs=0.3)


def test_a_cosine_frame_never_starts_with_ulaw_silence() -> None:
    assert tone_frame(1000, phase=math.pi / 2)[0] != g711.ULAW_SILENCE
    assert tone_frame(1000)[0] == g711.ULAW_SILENCE  # a sine starts at zero
    assert tone_frame(300) == tone_frames(300, 0.6)[7]  # 300 Hz repeats every frame


def test_tone_share_and_dominant_tone() -> None:
    frame = tone_frames(700, 0.1)[2]
    assert tone_share(frame, 700) > 0.9
    assert tone_share(frame, 900) < 0.05
    assert tone_share(g711.silence_frame("PCMU"), 700) == 0.0
    assert dominant_tone(frame, (500, 700, 900)) == 700
    assert dominant_tone(frame, (500, 900)) is None  # none of them carries the energy
    assert dominant_tone(g711.silence_frame("PCMU"), (500, 700)) is None
    louder = tone_samples(500, 0.02, -15.0)
    mixed = encode(a + b for a, b in zip(louder, tone_samples(900, 0.02, -20.0), strict=True))
    assert dominant_tone(mixed, (500, 900)) == 500
    assert dominant_tone(mixed, (500, 900), share=0.9) is None


def test_encode_clips_and_decode_inverts() -> None:
    assert encode([40000, -40000]) == encode([32767, -32768])
    samples = tone_samples(1000, 0.02, -9.0)
    for codec in ("PCMU", "PCMA"):
        back = decode(encode(samples, codec), codec)
        assert all(abs(a - b) <= max(16, abs(a) // 16) for a, b in zip(samples, back, strict=True))


def test_tone_spans_and_the_first_audio_after_a_time() -> None:
    samples = [0] * 4000 + list(tone_samples(700, 0.5, -15.0)) + [0] * 4000
    report = analyse_samples(samples)
    ((start, end),) = tone_spans(report, 700)
    assert 0.4 <= start <= 0.6 and 0.9 <= end <= 1.1
    assert tone_spans(report, 1300) == []
    assert first_audio_after(report, 0.0) == 0.5
    assert first_audio_after(report, 0.7) == pytest.approx(0.7)  # already audible
    assert first_audio_after(report, 1.2) is None  # quiet to the end
