"""The rooms' voices are the voices they are named for: each gives its own samples (this
espeak-ng ignores the variants of ``en-gb``). That no caller of ``bench.noise`` speaks in a
room's voice is checked beside the bench (tests/bench/test_noise.py)."""

from __future__ import annotations

from tests.toolkit.amdset.speech import Voice
from tests.toolkit.noisy_audio import room_voices
from tests.toolkit.voice_identity import digest


def test_the_rooms_voices_all_differ() -> None:
    heard = {name: digest(voice) for name, voice in room_voices().items()}
    assert len(set(heard.values())) == len(heard), heard
    # The variants named are applied: a variant of en-gb would give en-gb's samples.
    assert heard["tv2"] != digest(Voice("en", pitch=45))
    assert digest(Voice("en-gb+m3", pitch=45)) == heard["tv"]  # the reason for all this
