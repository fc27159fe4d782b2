"""The rooms' voices and bench.noise's callers are the voices they are named for: each
gives its own samples (this espeak-ng ignores the variants of ``en-gb``), and no caller
says a sentence in a room's voice."""

from __future__ import annotations

from bench.noise import CALLERS, INTERRUPTIONS, OPENING
from tests.toolkit.amdset.speech import Voice
from tests.toolkit.noisy_audio import room_voices
from tests.toolkit.voice_identity import digest, same_audio


def test_the_rooms_and_the_callers_voices_all_differ() -> None:
    rooms = room_voices()
    voices = {Voice(v) for v, _ in (OPENING, *INTERRUPTIONS)}
    voices |= {voice for voice in CALLERS.values() if voice is not None}
    callers = {digest(voice) for voice in voices}
    assert len(callers) == len(voices)  # each caller's voice its own
    heard = {name: digest(voice) for name, voice in rooms.items()}
    assert len(set(heard.values())) == len(heard), heard
    assert not callers & set(heard.values())
    # No caller is a room's voice at another pitch (the babble's second and fourth voices
    # are one voice, the TV's reader, at three pitches: a room's own).
    shared = same_audio([*voices, *rooms.values()])
    assert [{v.name for v in group} for group in shared] == [{"en-gb"}], shared
    # The variants named are applied: a variant of en-gb would give en-gb's samples.
    assert heard["tv2"] != digest(Voice("en", pitch=45))
    assert digest(Voice("en-gb+m3", pitch=45)) == heard["tv"]  # the reason for all this
