"""The toolkit's audio: tones, G.711 frames and what a received frame carries; WAV files
written, read while a recorder still writes them, and analysed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sipgw.app.evaluation.audio import (
    analyse,
    analyse_samples,
    decode,
    dominant_tone,
    encode,
    first_audio_after,
    goertzel_dbfs,
    read_wav,
    tone_frame,
    tone_frames,
    tone_samples,
    tone_share,
    tone_spans,
    wav_has_begun,
    wav_is_complete,
    write_pattern,
    write_tone,
    write_wav,
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


def test_write_tone_and_analyse_exact(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "t.wav", 1000, 2.0, dbfs=-9.0, lead_silence=0.5, tail_silence=0.3)
    samples, rate = read_wav(path)
    assert rate == 8000 and len(samples) == round(2.8 * 8000)
    r = analyse(path)
    assert r.duration == pytest.approx(2.8)
    assert r.active_seconds == pytest.approx(2.0)
    assert r.rms_dbfs == pytest.approx(-9.0, abs=0.01)
    assert r.dominant_hz == 1000
    assert r.fraction_at(1000) > 0.999
    assert r.fraction_at(440) < 0.001
    assert r.onset() == pytest.approx(0.5)
    assert r.onset(threshold_dbfs=-5.0) is None  # the tone is at -9 dBFS
    assert r.level_at(1000) == pytest.approx(-9.0, abs=0.05)
    assert 0.5 <= r.loudest_window[0] and r.loudest_window[1] <= 2.5


def test_write_pattern_segments(tmp_path: Path) -> None:
    path = write_pattern(tmp_path / "p.wav", [(440, 1.0), (None, 0.5), (1000, 1.0, -20.0)])
    r = analyse(path)
    assert r.duration == pytest.approx(2.5)
    assert r.active_seconds == pytest.approx(2.0)
    assert r.dominant_hz == 440  # the loudest 0.5 s is in the -9 dBFS part
    first, last = r.slice(0.0, 1.0), r.slice(1.5)
    assert first.dominant_hz == 440 and first.rms_dbfs == pytest.approx(-9.0, abs=0.01)
    assert last.dominant_hz == 1000 and last.rms_dbfs == pytest.approx(-20.0, abs=0.01)
    assert r.slice(1.0, 1.5).rms_dbfs is None and r.slice(1.0, 1.5).onset() is None
    assert r.fraction_at(1000, start=1.75, length=0.5) > 0.999
    assert r.level_at(1000, start=1.5, length=1.0) == pytest.approx(-20.0, abs=0.05)
    assert r.onset(threshold_dbfs=-30.0) == 0.0


@pytest.mark.parametrize("hz", [300.0, 1000.0, 2000.0, 3400.0])
@pytest.mark.parametrize("dbfs", [-3.01, -20.0, -45.0])
def test_goertzel_dbfs_reads_tone_level(hz: float, dbfs: float) -> None:
    samples = tone_samples(hz, 0.5, dbfs)  # 4000 samples: every hz here is on a DFT bin
    assert goertzel_dbfs(samples, hz) == pytest.approx(dbfs, abs=0.05)
    assert goertzel_dbfs(samples, hz + 200) < dbfs - 40


def test_silence_and_empty_recordings(tmp_path: Path) -> None:
    empty = analyse(write_wav(tmp_path / "empty.wav", []))
    assert empty.duration == 0 and empty.rms_dbfs is None and empty.onset() is None
    assert empty.dominant_hz is None and empty.fraction_at(1000) == 0.0
    quiet = analyse_samples([0] * 8000)
    assert quiet.active_seconds == 0 and quiet.rms_dbfs is None and quiet.dominant_hz is None
    assert goertzel_dbfs([], 1000) == -120.0


def test_wav_is_complete_and_read_wav_of_unfinished_files(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "t.wav", 440, 0.1)
    assert wav_is_complete(path)
    raw = path.read_bytes()
    assert len(raw) == 44 + 1600
    with path.open("ab") as f:  # a recorder still writing: header sizes lag the file
        f.write(b"\0\0" * 160)
    assert not wav_is_complete(path)
    assert len(read_wav(path)[0]) == 800  # the header's data size wins when it is set
    # being recorded: data size 0, the samples are read anyway
    path.write_bytes(raw[:4] + bytes(4) + raw[8:40] + bytes(4) + raw[44:])
    assert not wav_is_complete(path) and len(read_wav(path)[0]) == 800
    # linphonec's final header counts the 44 header bytes in the data size
    size = len(raw).to_bytes(4, "little")
    path.write_bytes(raw[:4] + (len(raw) + 32).to_bytes(4, "little") + raw[8:40] + size + raw[44:])
    assert wav_is_complete(path) and len(read_wav(path)[0]) == 800
    assert not wav_is_complete(tmp_path / "missing.wav")


def test_wav_has_begun_once_the_recorder_wrote_its_header(tmp_path: Path) -> None:
    """A recorder creates the file, then writes the header (libsndfile: one 44-byte write)."""
    path = write_tone(tmp_path / "t.wav", 440, 0.1)
    raw = path.read_bytes()
    for cut in (0, 4, 12, 36, 43):  # created, not (wholly) written yet
        path.write_bytes(raw[:cut])
        assert not wav_has_begun(path)
        with pytest.raises(ValueError, match="not a RIFF/WAVE file|no data chunk"):
            read_wav(path)
    path.write_bytes(raw[:44])  # the header alone: no samples yet
    assert wav_has_begun(path) and read_wav(path) == ([], 8000)
    path.write_bytes(raw)
    assert wav_has_begun(path) and not wav_has_begun(tmp_path / "missing.wav")


def test_g711_codecs() -> None:
    assert encode([0]) == b"\xff" and decode(b"\xff\x7f") == [0, 0]
    assert decode(b"\x00\x80") == [-32124, 32124]
    assert encode([0], "PCMA") == b"\xd5" and decode(b"\xd5\x55", "PCMA") == [8, -8]
    tone = tone_samples(1000, 0.1, -9.0)
    for codec in ("PCMU", "PCMA"):
        back = decode(encode(tone, codec), codec)
        assert len(back) == len(tone)
        assert goertzel_dbfs(back, 1000) == pytest.approx(-9.0, abs=0.1)
        assert all(abs(a - b) <= max(16, abs(a) // 16) for a, b in zip(tone, back, strict=True))
