"""The room gate: whether a finished turn holds the caller's speech or only the room's.

A final is not the caller's either when the echo guard (:mod:`sipgw.media.voice.echo`) found
the line's echo late and said the speech heard before was all the agent's own voice
(:meth:`RoomGate.echo_heard`): it is recorded as heard, not answered, gate on or off.

The rule is :mod:`sipgw.agent.turns.machine`' ("The room"): with a detector that tells the caller's
speech from the room's (the model detector of :mod:`sipgw.media.voice.model_vad`), a finished turn
heard when the detector has taken less than :data:`ROOM_MIN_CALLER_MS` of speech for the
caller's since the previous one is the room's (a TV, voices across the room): recorded, not
answered. The speech counted is the detector's loud frames while it hears speech; once the
detector knows the caller's own level (``caller_dbfs``, learned from their turns: the turns'
speech waits for the final, and :class:`~sipgw.agent.turns.machine.TurnTaker` tells the detector
whether the gate took it for the caller's; the room's is not learned), only those
within :data:`ROOM_CALLER_DB` of it. The detector's speech runs on over a TV or babble after
the caller stops (its hangover, and the room's voices loud enough to keep the run going), and
starts on them alone now and then: frames the room's level, 5-10 dB under the caller's.
:class:`RoomGate` keeps the count; :class:`~sipgw.agent.turns.machine.TurnTaker` gives it the
detector's frames and asks it at each final, whether that final held some of the caller's
speech (:data:`ROOM_PIECE_MS`: a piece of their sentence the early end split off may hold
little), and carries the count on to the next final when its words are held.

While the detector has not learned the room's level (``room_dbfs``: the room's voices heard
under the agent's audio), it hears the room's voices whole, and a voice 5 dB under the
caller's reaches their level at its loudest syllables' peaks: there the frames near the
caller's level count only in runs of :data:`ROOM_RUN_FRAMES` or more (quiet frames within the
detector's speech do not break a run; a loud frame under the caller's level does). Once it
knows the room's level, its own gate holds the room's voices out (its speech starts
``room_margin_db`` over them), and over a room that loud it hears the caller's own speech in
bursts as short as those peaks: every frame near the caller's level counts, but while the
agent's audio is queued (:data:`ROOM_RUN_FRAMES`: over it the detector's gate is the caller's
level less 6 dB, which the room's loudest words 5 dB under them reach; there, with the
caller's level known, a quiet frame within the detector's speech breaks a run).
"""

from __future__ import annotations

from typing import Final

from sipgw.agent.turns.actions import AgentState
from sipgw.media.voice.vad import FRAME_MS, VoiceDetector

__all__ = ["ROOM_CALLER_DB", "ROOM_MIN_CALLER_MS", "ROOM_PIECE_MS", "ROOM_RUN_FRAMES", "RoomGate"]

ROOM_MIN_CALLER_MS: Final = 160
"""With a detector that tells the caller from the room (``room_gate``): a finished turn
heard when the caller has said less than this since the previous one (the detector's loud
frames, near the caller's level once it is known: :data:`ROOM_CALLER_DB`) is the room's (a
TV, voices across the room), heard but not answered. Less lets a TV 5 dB under the caller
through; a caller's short "Yes." over a TV 10 dB under them holds 180 ms or more of speech
near their level."""
ROOM_CALLER_DB: Final = 6.0
"""Once the detector knows the caller's own level (its ``caller_dbfs``: the 90th percentile
of their turns' speech), a loud frame counts as the caller's speech for the gate only this
close to it (dB): the bar the model detector holds a barge-in to (its ``caller_margin_db``,
6 dB). Counted without it, the detector's runs over a TV or babble pass the gate
and nearly every room turn is answered; closer, a caller whose sentences differ in level
loses some, and a short "Yes." holds too little speech that near. It does not follow the
barge-in gate's ``CALLER_MARGIN_DB`` (:mod:`sipgw.media.voice.vad`): that says how soft a
barge-in over the agent may start, this whose words are answered. Widening the first to catch
softer interruptions would otherwise let a TV 5 dB under the caller count whole, and an
answered room turn is not undone."""

ROOM_RUN_FRAMES: Final = 5
"""While the detector does not know the room's level, frames near the caller's level count
for the gate only in runs of this many or more (100 ms): the caller at the mouthpiece holds
their level through a syllable's voiced core, a quieter voice farther off (a TV, the next
table) touches it only at its loudest syllables' peaks, two to five frames at a time. Once
the room's level is known they count whole: the detector's gate over the room then hears the
caller's own speech in bursts of 2-4 frames. While the agent's audio is queued (playing or
paused) they count only in runs, the room's level known or not: over the agent's audio the
detector starts speech on frames within 6 dB of the caller's level, which a TV 5 dB under
them reaches at its loudest words. There, once the caller's level is known, a frame the
detector hears as quiet within its speech breaks a run too (a café's loudest talker, 2-6 dB
under the caller, reaches their level in bursts between quiet ones); with the caller's level
unknown it does not, since over a long greeting that taught the detector the room's level the
caller's first sentence reaches it in such bursts."""

ROOM_PIECE_MS: Final = 60
"""A final of the room's by the gate that answers a forced end (the early end's) and holds
this much of the caller's speech near their level or more may be a piece of their sentence
the early end split off ("Wait, that": 120 ms near the level of a caller whose other
sentences are louder): its words are held as the caller's would be, for their next final to
decide. Less (a piece of the café's line, "So I", with none of it near) is the room's: held,
it would be answered in front of the caller's next sentence. And a final that comes while a
reply to a tentative end is queued (the tail of the sentence the early end split, "please?",
said over that reply and heard through the detector's barge-in gate) is the caller's with
this much."""


class RoomGate:
    """One call's count of the caller's speech between finals (module docstring).

    Args:
        on: the gate is on (``room_gate``); off, every final is the caller's.
        vad: the detector, told which finals were the caller's (:meth:`settled`): with the
            gate on it learns the caller's level from those only (None: not told).
        agent: the agent's side: while its audio is queued, and to the end of the detector's
            speech run that met it, frames count only in runs of :data:`ROOM_RUN_FRAMES`
            (None: never so).

    Attributes:
        caller_frames: the frames counted as the caller's speech since the last final.
    """

    __slots__ = (
        "_agent",
        "_joined",
        "_judged",
        "_known",
        "_near_frames",
        "_over_agent",
        "_pending",
        "_run",
        "_vad",
        "caller_frames",
        "echo",
        "on",
    )

    def __init__(
        self, on: bool, vad: VoiceDetector | None = None, agent: AgentState | None = None
    ) -> None:
        self.on = on
        self._agent = agent
        self._vad = vad if on else None
        if self._vad is not None:
            self._vad.judge_turns()  # the caller's level: from the turns taken for theirs
        self.caller_frames = 0
        self._near_frames = 0  # loud frames in a row near the caller's level
        self._run = 0  # loud frames near it since the last one under it, in the speech
        self._pending = 0  # of those, the counted ones not counted yet (the run is short)
        self._judged = 0  # the frames counted at the last final
        self._joined = False  # the last final was a tail joined by its timing
        self._over_agent = False  # the detector's speech began or went on over the agent's audio
        self._known = False  # the caller's level was known at the latest loud frame
        self.echo = False  # the speech since the last final was the agent's echo

    def loud(self, vad: VoiceDetector, counted: bool) -> None:
        """A loud frame of ``vad``'s (its last); ``counted``: it hears speech, not starting
        with this frame (a start counts its frames: :meth:`started`)."""
        caller = vad.caller_dbfs
        self._known = caller is not None
        if caller is None or vad.level_dbfs >= caller - ROOM_CALLER_DB:
            self._near_frames += 1
            self._run += 1
            self._pending += counted
            self._credit(vad)
        else:  # another voice, under the caller's level
            self._near_frames = self._run = self._pending = 0

    def quiet(self, speaking: bool = False) -> None:
        """A frame the detector did not hear as loud (``speaking``: within its speech, its
        hangover). Within the speech it breaks no run, but over the agent's audio, with the
        caller's level known, it does (:data:`ROOM_RUN_FRAMES`)."""
        self._near_frames = 0
        if not speaking or (self._over_agent and self._known):
            self._run = self._pending = 0
        if not speaking:
            self._over_agent = False

    def started(self, vad: VoiceDetector) -> None:
        """``vad`` started speech on its latest loud frames (``speech_frames``): they count,
        once the caller's level is known only those near it (the frames in a row up to this
        one), in a run of :data:`ROOM_RUN_FRAMES` while the room's level is unknown or the
        agent's audio is queued."""
        self.echo = False  # new speech: the echo guard heard the line's echo before it
        frames = vad.speech_frames
        if vad.caller_dbfs is not None:
            frames = min(frames, self._near_frames)
        self._pending += frames
        self._credit(vad)

    def _credit(self, vad: VoiceDetector) -> None:
        """Count the frames pending once the run near the caller's level reaches
        :data:`ROOM_RUN_FRAMES` (at once when ``vad`` knows the room's level and the agent's
        audio is not queued, nor was in the detector's speech run: over it the room's loudest
        words reach the detector's gate, and a barge-in they made may have cut it)."""
        agent = self._agent
        if agent is not None and agent.pending:
            self._over_agent = True  # till the detector's speech ends: a barge-in cuts it
        if self._run >= ROOM_RUN_FRAMES or (vad.room_dbfs is not None and not self._over_agent):
            self.caller_frames += self._pending
            self._pending = 0

    @property
    def near_frames(self) -> int:
        """Loud frames in a row up to the latest, near the caller's level (all loud frames
        while it is unknown): the caller's speech going on, not the room's."""
        return self._near_frames

    def caller_run(self, loud_frames: int) -> int:
        """Of the detector's ``loud_frames`` in a row up to the latest, those that say the
        caller goes on (after a tentative end): with the gate on, :attr:`near_frames` (the
        room's voices after the forced end are not them); off, all."""
        return self._near_frames if self.on else loud_frames

    def room_turn(self, tail: bool = False, joined: bool = False) -> bool:
        """A final came: whether it is the room's (the gate on, too little of the caller's
        speech since the previous one). ``tail``: it came while a reply to a tentative end
        is queued, the rest of a sentence the early end split: then :data:`ROOM_PIECE_MS`
        of the caller's speech makes it theirs. ``joined``: it is such a tail by its words'
        timing (:meth:`~sipgw.agent.turns.tentative.TentativeEnds.tail`): the caller's,
        whatever the count (the detector does not learn their level from it). The count
        starts again."""
        if self.echo:  # the agent's echo, whatever the count and the gate
            self.echo = self._joined = False
            self._judged = self.caller_frames = 0
            return True
        self._judged, self.caller_frames = self.caller_frames, 0
        self._joined = joined
        least = ROOM_PIECE_MS if tail else ROOM_MIN_CALLER_MS
        return self.on and not joined and self._judged * FRAME_MS < least

    @property
    def piece(self) -> bool:
        """The last final held :data:`ROOM_PIECE_MS` of the caller's speech or more."""
        return self._judged * FRAME_MS >= ROOM_PIECE_MS

    def carry(self) -> None:
        """The last final's words are held for the next one: its count goes on with it."""
        self.caller_frames += self._judged

    def echo_heard(self) -> None:
        """The echo guard found the line's echo, and the speech since the last final was
        all of it: the next final is not the caller's (:meth:`room_turn`), unless the
        detector starts new speech first."""
        self.echo = True

    def settled(self, said: bool, room: bool, held: bool) -> None:
        """The last final settled (``said``: it had words; ``room``: :meth:`room_turn`'s
        verdict; ``held``: none of them recorded as the room's). The room's with its words
        held (a piece the early end split off): :meth:`carry`, judged with the next final.
        Otherwise, with words, the detector learns whether the speech since the previous
        final was the caller's (their level is learned from it) or the room's."""
        if room and held:
            self.carry()
        elif said and self._vad is not None:
            self._vad.turn_judged(not room and not self._joined)
