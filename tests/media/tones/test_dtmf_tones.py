"""In-band DTMF: each key's two Q.23 tones for 100 ms, then 60 ms of silence."""

from __future__ import annotations

import pytest

from sipgw.app.evaluation.audio import decode, goertzel_dbfs
from sipgw.media import g711
from sipgw.media.tones.dtmf_tones import DTMF_FREQUENCIES, InbandDtmf


def frames(tones: InbandDtmf) -> list[bytes]:
    out = []
    while (frame := tones.next_frame()) is not None:
        out.append(frame)
    return out


@pytest.mark.parametrize("digit", sorted(DTMF_FREQUENCIES))
def test_each_key_is_its_two_tones_then_silence(digit: str) -> None:
    tones = InbandDtmf()
    tones.send(digit)
    played = frames(tones)
    assert len(played) == 8 and all(len(f) == 160 for f in played)
    tone = decode(b"".join(played[:5]))
    low, high = DTMF_FREQUENCIES[digit]
    others = {f for pair in DTMF_FREQUENCIES.values() for f in pair} - {low, high}
    level_low, level_high = goertzel_dbfs(tone, low), goertzel_dbfs(tone, high)
    # -10 dBm0 a tone: 13.2 dB under a full-scale sine (+3.17 dBm0), whose RMS is -3 dBFS
    assert -18 < level_low < -14.5 and -18 < level_high < -14.5, (level_low, level_high)
    assert all(goertzel_dbfs(tone, f) < level_low - 20 for f in others)
    assert all(g711.rms_dbfs(f) < -60 for f in played[5:])


def test_digits_follow_each_other_and_blanks_and_case_are_ignored() -> None:
    tones = InbandDtmf()
    tones.send("1 a")
    assert tones.pending and tones.digits == 2
    played = frames(tones)
    assert len(played) == 16 and not tones.pending
    assert goertzel_dbfs(decode(b"".join(played[8:13])), 1633) > -18  # A: 697 + 1633 Hz


def test_a_character_that_is_no_key_queues_nothing() -> None:
    tones = InbandDtmf()
    with pytest.raises(ValueError, match="'x'"):
        tones.send("12x")
    assert not tones.pending and tones.next_frame() is None
