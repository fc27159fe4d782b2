"""What the three AI-service fakes were asked for, counted: the work a gateway gave them.

:func:`tally` counts the records the fakes hold now; :class:`Tally` adds up the counts of
records a long run forgets (:meth:`sipgw.app.evaluation.fakes.services.FakeServices.prune`),
so a tally taken before and after a stretch of load says what that stretch asked for:

* LLM requests (``llm_requests``), and those the client dropped before the first chunk of the
  event stream (``llm_cut_before_first_chunk``: a reply started and abandoned) or after it
  (``llm_cut_after_first_chunk``);
* TTS contexts (one a reply: ``tts_contexts``) and the audio sent for them
  (``tts_audio_ms``; a context the client closes still gets the audio of the text it
  flushed, as ElevenLabs sends it, so a reply cut is told from one played whole by the
  gateway's call records, not here);
* STT audio messages (``stt_messages``), their audio (``stt_audio_ms``) and how many were of
  each length (``stt_messages_by_ms``: ms of audio, as sent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from sipgw.app.evaluation.fakes.assemblyai import BYTES_PER_MS, FakeSession
from sipgw.app.evaluation.fakes.elevenlabs import RecordedContext, bytes_per_ms
from sipgw.app.evaluation.fakes.openai import RecordedRequest

__all__ = ["COUNTS", "Tally", "tally"]

COUNTS = (
    "llm_requests",
    "llm_cut_before_first_chunk",
    "llm_cut_after_first_chunk",
    "tts_contexts",
    "tts_audio_ms",
    "stt_messages",
    "stt_audio_ms",
)
"""The flat counts of a tally, in the order they are reported."""


def tally(
    llm: Iterable[RecordedRequest],
    tts: Iterable[RecordedContext],
    stt: Iterable[FakeSession],
) -> dict[str, object]:
    """The counts of the records given (see the module docstring)."""
    counts: Counter[str] = Counter({name: 0 for name in COUNTS})
    for request in llm:
        counts["llm_requests"] += 1
        if request.disconnected:
            first = request.chunks_sent > 0
            counts["llm_cut_after_first_chunk" if first else "llm_cut_before_first_chunk"] += 1
    for context in tts:
        counts["tts_contexts"] += 1
        for utterance in context.utterances:
            counts["tts_audio_ms"] += utterance.bytes_sent // bytes_per_ms(utterance.output_format)
    lengths: Counter[int] = Counter()
    for session in stt:
        for size in session.chunk_sizes:
            lengths[round(size / BYTES_PER_MS)] += 1
    counts["stt_messages"] = sum(lengths.values())
    counts["stt_audio_ms"] = sum(ms * n for ms, n in lengths.items())
    return {**{name: counts[name] for name in COUNTS}, "stt_messages_by_ms": dict(lengths)}


class Tally:
    """Counts that outlive the records they came from (a long run prunes them)."""

    def __init__(self) -> None:
        self._forgotten: Counter[str] = Counter()
        self._forgotten_lengths: Counter[int] = Counter()

    def forget(self, before: Mapping[str, object], after: Mapping[str, object]) -> None:
        """Records were dropped: keep what ``before`` counted more than ``after``."""
        for name in COUNTS:
            self._forgotten[name] += _int(before[name]) - _int(after[name])
        self._forgotten_lengths.update(_lengths(before))
        self._forgotten_lengths.subtract(_lengths(after))

    def total(self, now: Mapping[str, object]) -> dict[str, object]:
        """``now`` (the records held) plus everything forgotten so far."""
        lengths = Counter(_lengths(now))
        lengths.update(self._forgotten_lengths)
        return {
            **{name: _int(now[name]) + self._forgotten[name] for name in COUNTS},
            "stt_messages_by_ms": {ms: n for ms, n in sorted(lengths.items()) if n},
        }


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _lengths(counts: Mapping[str, object]) -> Mapping[int, int]:
    lengths = counts["stt_messages_by_ms"]
    assert isinstance(lengths, dict)
    return lengths
