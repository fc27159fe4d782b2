"""Whether voices named as different voices give different samples.

This espeak-ng (Debian's 1.51) applies no variant to ``en-gb``: ``en-gb+m3``, ``en-gb+f3``,
``en-gb+belinda`` and ``en-gb`` give the same samples, and plain ``en`` is ``en-gb``; ``en``
with a variant (``en+f3``), ``en-gb-x-rp`` (with or without one) and the ``en-us`` voices and
their variants differ. A set of callers, rooms or held-out speakers said to differ is checked
here: :func:`digest` hashes the samples of one sentence, :func:`same_audio` groups the voices
that are one voice (said at the same speed and pitch, the same samples).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tests.toolkit.amdset.speech import Voice, synthesize_clause

__all__ = ["TEXT", "digest", "same_audio"]

TEXT = "Wait, that is not the address I gave you."


def digest(voice: Voice, text: str = TEXT) -> str:
    """The SHA-256 of ``text`` as ``voice`` says it (8 kHz, telephone band, trimmed)."""
    return hashlib.sha256(repr(synthesize_clause(text, voice).samples).encode()).hexdigest()


def same_audio(voices: Iterable[Voice]) -> list[tuple[Voice, ...]]:
    """The groups of two or more of ``voices`` that are one voice: said at the same speed and
    pitch (160 words a minute, pitch 50; each voice's own are set aside, a pitch step does not
    make another speaker), their samples of :data:`TEXT` are the same. In the order they
    first appear; none: every voice is its own."""
    groups: dict[str, list[Voice]] = {}
    for voice in dict.fromkeys(voices):
        groups.setdefault(digest(Voice(voice.name, engine=voice.engine)), []).append(voice)
    return [tuple(group) for group in groups.values() if len(group) > 1]
