"""Turns from the caller's script: the fake AssemblyAI transcribing what the caller said.

:class:`~sipgw.app.evaluation.fakes.assemblyai.TurnDetector` finds speech by the energy of
whatever audio comes in, and a finished turn carries the next queued transcript: over a noisy
room it ends turns on the room's voices and gives every one the same sentence. A load
generator that sends a known loop of audio (``bench.caller_audio``) knows better: which
sentence the caller says, and in which frames. :class:`CallerScript` is that knowledge,
:class:`ScriptedTurnDetector` the service's turn-taking over it (no I/O, no clock: it counts
the audio stream's 20 ms frames, as the energy detector does).

Which frame of the loop a received frame is: the gateway forwards the caller's μ-law frames
unchanged (no noise suppression by default), so each 20 ms frame of the stream is looked up
in a table of the loop's frames; a frame not found there (concealment of a lost packet, a
frame that occurs twice in the loop) is taken to follow the last one found.

What it sends, per docs/cloud-apis.md §1 (AssemblyAI Streaming STT v3, ``u3-rt-pro``, the
model the gateway asks for):

* ``SpeechStarted`` (§1.5) once the caller's voice has lasted ``min_speech_ms``, timestamped
  at its first frame;
* partials (§1.7, "Partials": at most one per silence period, plus one early partial after
  ``interruption_delay`` + 300 ms of speech, and with ``continuous_partials`` one about every
  3 s) whose text is the words the caller has said so far: the sentence's words spread
  evenly over its voiced span, the last one with its punctuation only once the span is over;
* the end of turn (§1.7, "End of turn": after ``min_turn_silence`` of silence the model checks
  for terminal ``.?!``; if found the turn ends, if not a partial is sent, and at
  ``max_turn_silence`` the turn is forced to end) counted from the caller's last voiced
  frame, whatever the room does meanwhile; the final carries the words said in the turn
  (§1.5: ``end_of_turn`` true, formatted, ``utterance == transcript``).

The room (``room``): the docs say nothing of how the service treats voices that are not the
caller's (§1.2 lists an undocumented ``voice_focus``; ``vad_threshold`` is 0.3 on u3), so it
is a choice. ``"silent"``: the room is never transcribed (a service that hears only the
near voice). ``"transcribed"``: where the loop's background has voices (babble, a TV) and
the caller is not speaking, a stretch of the room's energy above ``threshold_dbfs`` starts a
turn of its own, and its words are the room's (its segment's ``room_text``): the service
hearing a TV as readily as a caller. The room's words come as
the caller's do, at a talker's pace (:data:`ROOM_WORD_MS` of the room's speech a word, the
last with its punctuation), and its turn ends by the same rule: ``min_turn_silence`` after
the room's last loud frame once the words end in ``.?!``, else ``max_turn_silence`` (so a
60 ms burst of the room is a word, not its whole line, and the room's dips between words
do not end a turn apiece). A room turn the caller speaks into becomes the caller's turn,
transcribed as the caller's words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sipgw.app.evaluation.fakes.assemblyai import (
    DetectorAction,
    PartialDue,
    SpeechBegan,
    TurnDue,
)
from sipgw.media.g711 import rms_dbfs

__all__ = [
    "CallerScript",
    "FrameCounts",
    "ROOM_WORD_MS",
    "Room",
    "ScriptedSentence",
    "ScriptedTurnDetector",
    "words_said",
]

FRAME_MS = 20
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
_TERMINAL = (".", "?", "!")

ROOM_WORD_MS = 250
"""The room's speech per word (``room="transcribed"``): a talker's pace, as the loop's
synthesized sentences go (nine words in about 2.3 s)."""

Room = Literal["silent", "transcribed"]
"""What the fake does with the room's voices (module docstring)."""


@dataclass(frozen=True, slots=True)
class ScriptedSentence:
    """One segment of the loop: where it is, what the caller says in it and when."""

    first_frame: int
    """The segment's first frame, in frames of the loop."""
    frames: int
    """Its length in frames."""
    text: str
    """What the caller says (its last word ends in ``.``, ``?`` or ``!``)."""
    voiced: tuple[tuple[int, int], ...]
    """The frames the caller's voice is in, as ``[start, end)`` ranges relative to
    ``first_frame``, in order."""
    room_text: str | None = None
    """The room's words (voices in the background), or None (no voices: street, music)."""

    @property
    def speech_span(self) -> tuple[int, int]:
        """``[first, last + 1)`` voiced frame, relative to ``first_frame``."""
        if not self.voiced:
            return (0, 0)
        return (self.voiced[0][0], self.voiced[-1][1])


def words_said(sentence: ScriptedSentence, frame: int) -> int:
    """How many of ``sentence``'s words the caller has said by the end of its ``frame``
    (relative to the segment): its words spread evenly over its voiced span."""
    words = len(sentence.text.split())
    first, end = sentence.speech_span
    if frame < first or end <= first:
        return 0
    if frame >= end - 1:
        return words
    return min(words - 1, max(1, -(-words * (frame - first + 1) // (end - first))))


@dataclass
class CallerScript:
    """The loop a load generator sends, frame by frame: who speaks in each frame."""

    sentences: Sequence[ScriptedSentence]
    frames: int
    """The loop's length in frames."""
    index: Mapping[bytes, int] = field(default_factory=dict)
    """Each frame's bytes to its position in the loop (frames that occur twice left out)."""
    _segment: list[int] = field(default_factory=list, repr=False)
    _caller: bytearray = field(default_factory=bytearray, repr=False)

    def __post_init__(self) -> None:
        self._segment = [0] * self.frames
        self._caller = bytearray(self.frames)
        for n, sentence in enumerate(self.sentences):
            first = sentence.first_frame
            for f in range(first, min(self.frames, first + sentence.frames)):
                self._segment[f] = n
            for start, end in sentence.voiced:
                for f in range(first + start, min(self.frames, first + end)):
                    self._caller[f] = 1

    @classmethod
    def from_loop(cls, loop: bytes, sentences: Sequence[ScriptedSentence]) -> CallerScript:
        """The script of ``loop`` (μ-law, whole 20 ms frames) made of ``sentences``."""
        frames = len(loop) // FRAME_BYTES
        index: dict[bytes, int] = {}
        twice: set[bytes] = set()
        for f in range(frames):
            chunk = loop[f * FRAME_BYTES : (f + 1) * FRAME_BYTES]
            if chunk in index:
                twice.add(chunk)
            index[chunk] = f
        for chunk in twice:
            del index[chunk]
        return cls(sentences=tuple(sentences), frames=frames, index=index)

    @classmethod
    def load(cls, path: Path) -> CallerScript:
        """Read a script file (:meth:`to_json`'s form; its ``loop`` relative to the file)."""
        data = json.loads(path.read_text())
        loop = (path.parent / data["loop"]).read_bytes()
        return cls.from_loop(loop, [_sentence(s) for s in data["sentences"]])

    @staticmethod
    def to_json(loop_name: str, sentences: Sequence[ScriptedSentence]) -> dict[str, Any]:
        """The script file's content for the loop file ``loop_name`` beside it."""
        return {
            "loop": loop_name,
            "frame_ms": FRAME_MS,
            "sentences": [
                {
                    "first_frame": s.first_frame,
                    "frames": s.frames,
                    "text": s.text,
                    "voiced": [list(r) for r in s.voiced],
                    "room_text": s.room_text,
                }
                for s in sentences
            ],
        }

    def locate(self, frame: bytes) -> int | None:
        """The loop position of ``frame``, or None if it is not (once) in the loop."""
        return self.index.get(frame)

    def caller_speaks(self, position: int) -> bool:
        """Whether the caller's voice is in the loop's frame ``position``."""
        return bool(self._caller[position])

    def sentence_at(self, position: int) -> tuple[int, ScriptedSentence]:
        """The segment the loop's frame ``position`` is in: its number and sentence."""
        n = self._segment[position]
        return n, self.sentences[n]


def _sentence(data: Mapping[str, Any]) -> ScriptedSentence:
    return ScriptedSentence(
        first_frame=int(data["first_frame"]),
        frames=int(data["frames"]),
        text=str(data["text"]),
        voiced=tuple((int(a), int(b)) for a, b in data["voiced"]),
        room_text=data.get("room_text"),
    )


# -------------------------------------------------------------------- the turn detector


@dataclass
class FrameCounts:
    """How the frames of the stream were placed in the loop (one detector's, or many
    sessions' together)."""

    located: int = 0
    """Frames found in the loop's table."""
    followed: int = 0
    """Frames not found there, taken to follow the last one found."""
    unknown: int = 0
    """Frames before the first one found (neither caller nor room)."""

    def as_dict(self) -> dict[str, int]:
        """The counts by name, prefixed ``stt_frames_`` (a tally's keys)."""
        return {
            "stt_frames_located": self.located,
            "stt_frames_followed": self.followed,
            "stt_frames_unknown": self.unknown,
        }


@dataclass(frozen=True, slots=True)
class _Turn:
    start_ms: int
    segment: int | None
    """The caller's segment, or None for a room turn."""
    room_text: str = ""


class ScriptedTurnDetector:
    """u3-rt-pro's turns over a :class:`CallerScript` (module docstring); the same calls and
    actions as :class:`~sipgw.app.evaluation.fakes.assemblyai.TurnDetector`."""

    def __init__(
        self,
        script: CallerScript,
        *,
        room: Room = "silent",
        threshold_dbfs: float = -35.0,
        min_speech_ms: int = 60,
        min_turn_silence_ms: int = 100,
        max_turn_silence_ms: int = 1000,
        partial_after_ms: int | None = None,
        continuous_partial_ms: int | None = None,
        counts: FrameCounts | None = None,
    ) -> None:
        """``partial_after_ms``: speech before the early partial (None = none);
        ``continuous_partial_ms``: speech between continuous partials (None = none);
        ``counts``: where to count the frames placed (shared by sessions; else its own)."""
        self.script = script
        self.room = room
        self.threshold_dbfs = threshold_dbfs
        self.min_speech_ms = min_speech_ms
        self.min_turn_silence_ms = min_turn_silence_ms
        self.max_turn_silence_ms = max_turn_silence_ms
        self.partial_after_ms = partial_after_ms
        self.continuous_partial_ms = continuous_partial_ms
        self.counts = FrameCounts() if counts is None else counts
        self._carry = b""
        self._pos_ms = 0
        self._loop_pos: int | None = None
        self._run_start: int | None = None
        self._run_caller = False
        self._turn: _Turn | None = None
        self._speech_end = 0
        self._speech_ms = 0
        self._silence_ms = 0
        self._silence_checked = False
        self._early_sent = False
        self._continuous_due = 0
        self._said = 0
        """Words of the current caller sentence said so far (by the last caller frame)."""
        self._given: dict[int, int] = {}
        """Words of each segment's sentence already sent in a final (a split sentence)."""

    @property
    def position_ms(self) -> int:
        """Stream time analysed so far."""
        return self._pos_ms

    @property
    def in_turn(self) -> bool:
        """Whether a turn has started and not ended."""
        return self._turn is not None

    def feed(self, audio: bytes) -> list[DetectorAction]:
        """Analyse more audio; return the actions due (``SpeechBegan``, ``PartialDue``,
        ``TurnDue``)."""
        data = self._carry + audio
        whole = len(data) - len(data) % FRAME_BYTES
        self._carry = data[whole:]
        out: list[DetectorAction] = []
        for offset in range(0, whole, FRAME_BYTES):
            out.extend(self._frame(data[offset : offset + FRAME_BYTES]))
            self._pos_ms += FRAME_MS
        return out

    def force_endpoint(self) -> list[DetectorAction]:
        """End the current turn now (``ForceEndpoint`` or ``Terminate``)."""
        return [self._end_turn()] if self._turn is not None else []

    # -- one frame

    def _where(self, frame: bytes) -> int | None:
        found = self.script.locate(frame)
        if found is not None:
            self.counts.located += 1
            self._loop_pos = found
        elif self._loop_pos is not None:
            self.counts.followed += 1
            self._loop_pos = (self._loop_pos + 1) % self.script.frames
        else:
            self.counts.unknown += 1
        return self._loop_pos

    def _frame(self, frame: bytes) -> list[DetectorAction]:
        pos = self._where(frame)
        caller = pos is not None and self.script.caller_speaks(pos)
        room = (
            not caller
            and self.room == "transcribed"
            and pos is not None
            and self.script.sentence_at(pos)[1].room_text is not None
            and rms_dbfs(frame) > self.threshold_dbfs
        )
        start, end = self._pos_ms, self._pos_ms + FRAME_MS
        if self._turn is None:
            return self._idle(pos, caller, room, start, end)
        if caller and pos is not None:
            return self._caller_frame(pos, end)
        if room and self._turn.segment is None:
            return self._speech(end)
        return self._silence()

    def _idle(
        self, pos: int | None, caller: bool, room: bool, start: int, end: int
    ) -> list[DetectorAction]:
        if not (caller or room) or (self._run_start is not None and caller != self._run_caller):
            self._run_start = None
        if not (caller or room):
            return []
        if self._run_start is None:
            self._run_start, self._run_caller = start, caller
        if end - self._run_start < self.min_speech_ms:
            return []
        assert pos is not None
        segment, sentence = self.script.sentence_at(pos)
        if caller:
            self._turn = _Turn(self._run_start, segment)
            if self._given.get(segment, 0) >= len(sentence.text.split()):
                self._given[segment] = 0  # the loop came round: the sentence anew
            self._said = words_said(sentence, pos - sentence.first_frame)
        else:
            self._turn = _Turn(self._run_start, None, sentence.room_text or "")
            self._said = 0
        self._speech_end = end
        self._speech_ms = end - self._run_start
        self._silence_ms = 0
        self._silence_checked = False
        self._early_sent = False
        self._continuous_due = self.continuous_partial_ms or 0
        self._run_start = None
        return [SpeechBegan(self._turn.start_ms)]

    def _caller_frame(self, pos: int, end: int) -> list[DetectorAction]:
        assert self._turn is not None
        segment, sentence = self.script.sentence_at(pos)
        said = words_said(sentence, pos - sentence.first_frame)
        if self._turn.segment != segment:  # a room turn the caller speaks into
            self._turn = _Turn(self._turn.start_ms, segment)
            if self._given.get(segment, 0) >= len(sentence.text.split()):
                self._given[segment] = 0
            self._said = said
        self._said = max(self._said, said)
        return self._speech(end)

    def _speech(self, end: int) -> list[DetectorAction]:
        self._speech_end = end
        self._speech_ms += FRAME_MS
        self._silence_ms = 0
        self._silence_checked = False
        due: list[DetectorAction] = []
        first = self.partial_after_ms
        if first is not None and not self._early_sent and self._speech_ms >= first:
            self._early_sent = True
            due.append(self._partial())
        every = self.continuous_partial_ms
        if every is not None and self._speech_ms >= self._continuous_due:
            self._continuous_due += every
            due.append(self._partial(continuous=True))
        return due

    def _silence(self) -> list[DetectorAction]:
        self._silence_ms += FRAME_MS
        if self._silence_ms >= self.max_turn_silence_ms:
            return [self._end_turn()]
        if self._silence_ms >= self.min_turn_silence_ms and not self._silence_checked:
            self._silence_checked = True
            if self._text().rstrip().endswith(_TERMINAL):
                return [self._end_turn()]
            return [self._partial(silence=True)]
        return []

    # -- texts

    def _text(self) -> str:
        turn = self._turn
        assert turn is not None
        if turn.segment is None:  # the room's words so far, at a talker's pace
            words = turn.room_text.split()
            return " ".join(words[: -(-self._speech_ms // ROOM_WORD_MS)])
        words = self.script.sentences[turn.segment].text.split()
        return " ".join(words[self._given.get(turn.segment, 0) : self._said])

    def _partial(self, *, silence: bool = False, continuous: bool = False) -> PartialDue:
        assert self._turn is not None
        return PartialDue(
            self._turn.start_ms,
            self._speech_end,
            silence=silence,
            continuous=continuous,
            text=self._text(),
        )

    def _end_turn(self) -> TurnDue:
        turn = self._turn
        assert turn is not None
        text = self._text()
        if turn.segment is not None:
            self._given[turn.segment] = self._said
        self._turn = None
        return TurnDue(turn.start_ms, self._speech_end, text=text)
