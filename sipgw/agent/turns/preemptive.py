"""Preemptive replies: the LLM request started on a partial before the end of turn.

The rules are :mod:`sipgw.agent.turns.machine`' ("Preemptive replies", "Partials during speech"):
a partial heard while the caller is quiet is the turn so far, and once they have been
quiet for ``preemptive_pause_ms`` it starts a request
(:class:`~sipgw.agent.turns.actions.StartPreemptive`); a partial heard while they speak is
a candidate, judged stable or not when they go quiet. :class:`PreemptiveReplies` keeps
those partials and the request's text; :class:`~sipgw.agent.turns.machine.TurnTaker` feeds it
the partials and the frames' counts.
"""

from __future__ import annotations

from typing import Final

from sipgw.agent.services.stt.base import SttPartialTranscript
from sipgw.agent.turns.actions import DROP, NOTHING, AgentState, StartPreemptive, TurnAction
from sipgw.agent.turns.words import extends, normalized_words, same_words
from sipgw.media.voice.vad import FRAME_MS

__all__ = ["PARTIAL_TAIL_MS", "PreemptiveReplies"]

PARTIAL_TAIL_MS: Final = 150
"""Caller speech after a partial's last word that still counts as that word's trailing
sound (a breath, a drawn-out vowel; the VAD's energy edge against the model's word end):
shorter than any spoken word. A partial heard during speech that ends earlier than this
before the caller's last loud frame lacks words and starts nothing; one that ends later
than this after it (which one stream cannot produce: the counts disagree) neither."""


class PreemptiveReplies:
    """One call's preemptive requests.

    Args:
        agent: the agent's side: no request starts while a reply is active or audio queued.
        pause_ms: quiet (ms of frames since the last loud frame) after which a partial
            starts a preemptive request; None = never.
        speech_partials: a stable partial heard while the caller speaks may start one too.

    Attributes:
        partial: a partial heard in the current quiet spell, not started yet.
        in_speech: ... that partial was heard during speech.
        preempted: the text of the preemptive request under way, if any.
        candidate: a partial heard during speech, (text, end of its last word in stream
            ms): judged when the caller goes quiet.
        turn_partial: the turn's latest partial, (turn, normalized words).
    """

    __slots__ = (
        "agent", "candidate", "in_speech", "partial", "pause_ms", "preempted",
        "speech_partials", "turn_partial",
    )  # fmt: skip

    def __init__(self, agent: AgentState, pause_ms: int | None, speech_partials: bool) -> None:
        self.agent = agent
        self.pause_ms = pause_ms
        self.speech_partials = speech_partials
        self.partial: str | None = None
        self.in_speech = False
        self.preempted: str | None = None
        self.candidate: tuple[str, int] | None = None
        self.turn_partial: tuple[int, str] | None = None

    def heard(
        self, event: SttPartialTranscript, loud: bool, quiet_frames: int, heard_loud: bool
    ) -> tuple[TurnAction, ...]:
        """A partial transcript: the turn so far, if the caller is quiet now (``loud``
        false; ``quiet_frames`` since their last loud frame, if ``heard_loud``), or, heard
        during speech, a candidate judged when the caller goes quiet."""
        text = event.text
        actions = NOTHING
        if self.preempted is not None and not same_words(self.preempted, text):
            actions = self.drop()
        words = normalized_words(text)
        if not words:
            return actions
        previous = self.turn_partial
        self.turn_partial = (event.turn_order, words)
        if loud:
            self.candidate = None
            if (
                self.speech_partials
                and event.audio_end_ms is not None
                and (
                    previous is None
                    or previous[0] != event.turn_order
                    or extends(words, previous[1])
                )
            ):
                self.candidate = (text, event.audio_end_ms)
            return actions
        self.partial, self.in_speech = text, False
        return actions + self.start(quiet_frames, heard_loud)

    def judge(self, stream_frames: int) -> None:
        """The caller just went quiet (``stream_frames`` of the STT's stream so far): the
        candidate is the quiet spell's partial if its last word ends close enough to their
        last loud frame."""
        assert self.candidate is not None
        text, end_ms = self.candidate
        self.candidate = None
        speech_end_ms = (stream_frames - 1) * FRAME_MS  # the last loud frame's end
        # Words ending far after the speech did cannot be: the two counts disagree.
        if abs(speech_end_ms - end_ms) <= PARTIAL_TAIL_MS:
            self.partial, self.in_speech = text, True

    def start(self, quiet_frames: int, heard_loud: bool) -> tuple[TurnAction, ...]:
        """Start the preemptive request once the caller has been quiet long enough
        (``quiet_frames`` since their last loud frame, if ``heard_loud``)."""
        text, pause = self.partial, self.pause_ms
        if text is None or pause is None:
            return NOTHING
        # Counted in frames (audio time), not on the clock: the STT's partial says it
        # heard N ms of silence in the same frames, and the ticks that delivered them
        # jitter by a millisecond or two either way.
        if heard_loud and quiet_frames * FRAME_MS < pause:
            return NOTHING
        self.partial = None
        if self.preempted is not None or self.agent.active_reply_started_at() is not None:
            return NOTHING  # the same words are preempted already; or the agent is replying
        if self.agent.pending:
            return NOTHING
        self.preempted = text
        return (StartPreemptive(text, during_speech=self.in_speech),)

    def drop(self) -> tuple[TurnAction, ...]:
        """The caller goes on: the quiet spell's partial is out of date, and the request
        on it, if one started, is dropped."""
        self.partial = None
        if self.preempted is None:
            return NOTHING
        self.preempted = None
        return DROP

    def turn_ended(self) -> tuple[TurnAction, ...]:
        """The STT ended the turn: everything heard of it is forgotten. Returns what a
        turn that starts no reply says (the request under way, if any, is dropped); a
        reply settles it instead (the agent adopts or drops it on
        :class:`~sipgw.agent.turns.actions.StartReply`)."""
        preempted = self.preempted
        self.partial = self.preempted = self.candidate = self.turn_partial = None
        return DROP if preempted is not None else NOTHING
