"""voice_identity: a variant this espeak-ng ignores is found to be the voice it varies."""

from __future__ import annotations

from tests.toolkit.amdset.speech import Voice
from tests.toolkit.voice_identity import digest, same_audio


def test_the_variants_of_en_gb_are_en_gb_and_those_of_en_are_not() -> None:
    assert digest(Voice("en-gb+f3")) == digest(Voice("en-gb")) == digest(Voice("en"))
    assert digest(Voice("en+f3")) != digest(Voice("en-gb"))
    assert digest(Voice("en-gb", pitch=45)) != digest(Voice("en-gb"))  # the samples differ


def test_voices_that_are_one_are_grouped_whatever_their_pitch() -> None:
    voices = [Voice("en-us"), Voice("en-gb+f3", pitch=70), Voice("en+f3"), Voice("en-gb", 140)]
    assert same_audio(voices) == [(voices[1], voices[3])]
    assert same_audio([Voice("en-us"), Voice("en-us+f3"), Voice("slt", engine="flite")]) == []
