"""The rooms' voices and bench.noise's callers are the voices they are named for: each
gives its own samples (this espeak-ng ignores the variants of ``en-gb``), and no caller
says a sentence in a room's voice."""

from __future__ import annotations

import hashlib

from bench.noise import CALLERS, INTERRUPTIONS, OPENING
from tests.toolkit.amdset.speech import Voice, synthesize_clause
from tests.toolkit.noisy_audio import _BABBLE_LINES, BABBLE2_VOICES, TV2_VOICE, TV_VOICE

TEXT = "Wait, that is not the address I gave you."


def digest(voice: Voice) -> str:
    return hashlib.sha256(repr(synthesize_clause(TEXT, voice).samples).encode()).hexdigest()


def test_the_rooms_and_the_callers_voices_all_differ() -> None:
    rooms = {f"babble {i}": Voice(v, pitch=40 + 8 * i) for i, (v, _) in enumerate(_BABBLE_LINES)}
    rooms |= {
        f"babble2 {i}": Voice(v, pitch=40 + 8 * i)
        for i, v in ((1, BABBLE2_VOICES[0]), (3, BABBLE2_VOICES[1]))
    }
    rooms |= {"tv": Voice(TV_VOICE, pitch=45), "tv2": Voice(TV2_VOICE, pitch=45)}
    voices = {Voice(v) for v, _ in (OPENING, *INTERRUPTIONS)}
    voices |= {voice for voice in CALLERS.values() if voice is not None}
    callers = {digest(voice) for voice in voices}
    assert len(callers) == len(voices)  # each caller's voice its own
    heard = {name: digest(voice) for name, voice in rooms.items()}
    assert len(set(heard.values())) == len(heard), heard
    assert not callers & set(heard.values())
    # The variants named are applied: a variant of en-gb would give en-gb's samples.
    assert heard["tv2"] != digest(Voice("en", pitch=45))
    assert digest(Voice("en-gb+m3", pitch=45)) == heard["tv"]  # the reason for all this
