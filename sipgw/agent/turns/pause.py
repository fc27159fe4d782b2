"""The agent's audio held over the caller's speech: paused, ducked, or neither.

The first step of a barge-in (:mod:`sipgw.agent.turns.machine`, "Barge-in" and "Ducking"):
:class:`BargeInPause` keeps when the agent's audio was paused (or, ducked, the pause it
came from) and when the caller's speech began, and ends the pause in one of three ways:
it resumes (no barge-in), ducks (still undecided: play on softer) or commits (the reply
is cut off). :class:`~sipgw.agent.turns.machine.TurnTaker` decides which, and when. The speech
that commits is counted from the pause's onset: a pause that comes within a run of the
detector's speech begun before it (a reply to a tentative end, paused in the hangover of
the turn it answers) leaves out the run's speech before its onset (:meth:`speech_ms`).
A pause whose speech was words' worth and whose reply the caller has not heard yet may be
kept over the speech's end (:meth:`await_words`) until the STT says what it was.
"""

from __future__ import annotations

from typing import Final

from sipgw.agent.turns.actions import (
    NOTHING,
    PAUSE,
    UNDUCK,
    Cause,
    CommitBargeIn,
    DuckAgent,
    ResumeAgent,
    TurnAction,
)
from sipgw.media.voice.vad import FRAME_MS

__all__ = ["AWAITED_SPEECH_MS", "AWAIT_FINAL_MS", "BargeInPause"]

AWAITED_SPEECH_MS: Final = 200
"""Speech since the pause's onset (ms of the detector's loud frames) after which a paused
reply to a tentative end, not heard yet, awaits the speech's transcript at its end instead
of resuming: a word's worth (one syllable said is 150-300 ms), more than a click or a
cough's burst (the detector's 60 ms start to some 150 ms)."""
AWAIT_FINAL_MS: Final = 1200
"""The longest such a reply awaits the transcript (ms of quiet since the caller's last loud
frame) before it resumes: the forced end's final comes some 320 ms after that frame (200 ms
of silence and the service's 120 ms), the service's own end of an unfinished sentence
after ``max_turn_silence`` (1000 ms) and its latency."""


class BargeInPause:
    """One call's pause of the agent's audio for caller speech.

    Args:
        duck_after_ms: a pause still undecided after this long (ms) plays on softer
            (:class:`~sipgw.agent.turns.actions.DuckAgent`); None = it stays paused.

    Attributes:
        paused_at: when the agent's audio was paused, while it is.
        ducked_at: the pause a ducked reply came from, while it is ducked.
        onset_at: the onset of the caller's speech that paused it, while paused or ducked.
        unheard: the pause holds a reply to a tentative end before its first frame was
            heard: it is never ducked (a ducked reply would start over the caller going on).
        speech_before_ms: the detector's speech (ms of loud frames) in its current run
            before the pause's onset, while paused or ducked: not the speech paused
            (negative once :meth:`await_words` kept the pause past a run's end: the speech
            of the runs before counts on).
        said_ms: the speech paused so far (ms of loud frames since the pause's onset, over
            the runs it lasted), as :meth:`heard` was told it.
        awaiting: the pause outlasted the caller's speech to await its transcript.
    """

    __slots__ = (
        "awaiting", "duck_after", "ducked_at", "onset_at", "paused_at", "said_ms",
        "speech_before_ms", "unheard",
    )  # fmt: skip

    def __init__(self, duck_after_ms: int | None) -> None:
        self.duck_after = None if duck_after_ms is None else duck_after_ms / 1000
        self.paused_at: float | None = None
        self.ducked_at: float | None = None
        self.onset_at: float | None = None
        self.unheard = False
        self.speech_before_ms = 0
        self.said_ms = 0
        self.awaiting = False

    def pause(
        self, now: float, onset: float, *, unheard: bool = False, speech_before_ms: int = 0
    ) -> tuple[TurnAction, ...]:
        """Hold the agent's audio at ``now`` for speech that began at ``onset``;
        ``speech_before_ms`` of the detector's current run came before it."""
        self.paused_at, self.onset_at, self.unheard = now, onset, unheard
        self.speech_before_ms = speech_before_ms
        self.said_ms = 0
        self.awaiting = False
        return PAUSE

    def speech_ms(self, run_ms: int) -> int:
        """The speech paused (or ducked) so far, of a detector's run of ``run_ms``: the
        run's speech since the pause's onset."""
        return run_ms - self.speech_before_ms

    def heard(self, run_ms: int) -> None:
        """The detector's run is at ``run_ms`` of speech, while paused."""
        self.said_ms = max(self.said_ms, self.speech_ms(run_ms))

    def await_words(self) -> None:
        """The caller's speech ended, the pause goes on until its transcript comes: the
        speech paused so far counts on in the detector's next run."""
        self.awaiting = True
        self.speech_before_ms = -self.said_ms

    def speech_ended(self, now: float, tentative_reply: bool) -> tuple[TurnAction, ...]:
        """The caller's speech ended before any commit: a pause resumes (no barge-in), but
        one of a reply to a tentative end (``tentative_reply``) not heard yet, after a
        word's worth of speech, awaits its transcript (the reply may answer part of the
        caller's words); a duck ends."""
        if self.paused_at is None:
            return self.unduck()
        if self.unheard and tentative_reply and self.said_ms >= AWAITED_SPEECH_MS:
            self.await_words()
            return NOTHING
        return (self.resume(now),)

    def waited_out(self, now: float, quiet_frames: int, without_speech_s: float) -> bool:
        """Whether a pause without speech has lasted long enough to resume: awaiting a
        transcript, :data:`AWAIT_FINAL_MS` of quiet; else ``without_speech_s`` paused."""
        if self.awaiting:
            return quiet_frames * FRAME_MS >= AWAIT_FINAL_MS
        paused_at = self.paused_at
        return paused_at is not None and now - paused_at > without_speech_s

    def awaited_final(self, now: float, *, held: bool = False) -> tuple[TurnAction, ...]:
        """A final that starts no reply came while the pause awaits a transcript: words
        ``held`` for the caller's next turn cut the reply (it answers part of them),
        anything else (nothing said, a backchannel, the room) lets it play. Nothing when
        no pause awaits."""
        if not self.awaiting:
            return NOTHING
        return (self.commit(Cause.TURN),) if held else (self.resume(now),)

    def may_duck(self, now: float) -> bool:
        """Whether the pause under way has been undecided long enough to play on ducked."""
        paused_at, duck_after = self.paused_at, self.duck_after
        return (
            duck_after is not None
            and paused_at is not None
            and now - paused_at >= duck_after - 1e-6
            and not self.unheard
        )

    def duck(self, now: float) -> DuckAgent:
        """The pause under way plays on softer, from where it stopped."""
        paused_at = self.paused_at
        assert paused_at is not None
        self.paused_at, self.ducked_at = None, paused_at
        return DuckAgent(round((now - paused_at) * 1000, 1))

    def unduck(self) -> tuple[TurnAction, ...]:
        """A ducked reply back to full level (nothing when none is ducked)."""
        if self.ducked_at is None:
            return NOTHING
        self.ducked_at = self.onset_at = None
        self._reset()
        return UNDUCK

    def resume(self, now: float) -> ResumeAgent:
        """The pause was no barge-in: the agent plays on."""
        paused_at = self.paused_at
        paused_ms = 0.0 if paused_at is None else round((now - paused_at) * 1000, 1)
        self.paused_at = self.onset_at = None
        self.unheard = False
        self._reset()
        return ResumeAgent(paused_ms)

    def commit(self, cause: Cause) -> CommitBargeIn:
        """The caller really interrupts: the pause, or the duck, ends in a cut."""
        reaction = None
        paused_at = self.paused_at if self.paused_at is not None else self.ducked_at
        if self.onset_at is not None and paused_at is not None:
            reaction = round((paused_at - self.onset_at) * 1000, 1)
        self.clear()
        return CommitBargeIn(cause, reaction)

    def clear(self) -> None:
        """No pause nor duck under way any more (the agent's audio stopped on its own)."""
        self.paused_at = self.onset_at = self.ducked_at = None
        self.unheard = False
        self._reset()

    def _reset(self) -> None:
        self.speech_before_ms = self.said_ms = 0
        self.awaiting = False
