"""Turn-taking and barge-in, sans-IO: when the caller's turn ends, and when they interrupt.

Theory of operation
-------------------
:class:`TurnTaker` takes the caller's side as input, one call per fact, each
with the time ``now``: every 20 ms frame of caller audio as it arrives
(:meth:`TurnTaker.receive_audio`; it runs its own voice-activity detector,
``sipgw.media.vad``), the speech-to-text events (:meth:`TurnTaker.receive_stt`)
and keypad digits (:meth:`TurnTaker.receive_dtmf`). It reads the agent's side
through :class:`AgentState` when a rule needs it: is agent audio audible, is
some queued (maybe paused), which reply is still active and since when. Each
call returns the actions the agent must carry out, in order (usually none).

Barge-in happens in two steps, so that "mm-hm" and coughs don't cut the agent
off:

1. *Pause* (:class:`PauseAgent`): while agent audio is audible, the VAD's
   speech start (``start_ms`` of loud audio) pauses it at once. So does the
   STT's speech start, unless it comes within :data:`STT_SPEECH_ECHO` of the
   VAD's own start (then it is the same speech).
2. *Commit* (:class:`CommitBargeIn`) cancels the reply, for one of these
   causes (:class:`Cause`): ``commit_ms`` of loud speech while paused; a
   partial transcript of at least ``min_words`` words that is not a
   backchannel, while paused, or while audible once speech began after the
   active reply started (a late partial of the turn it answers commits
   nothing: an opening held for answering-machine detection starts when
   released, after the callee's words); a finished turn that is not a
   backchannel (the reply to it starts right after, :class:`StartReply`);
   a keypad digit while paused or audible. Speech that began before the
   active reply started (the turn that reply answers) commits nothing by
   itself; speech that began after it commits even when nothing was audible
   yet (the reply was still being generated).

*Ducking* (on when ``duck_after_ms`` is set): a pause that is still undecided after
``duck_after_ms`` (no commit, no partial yet, the caller still talking) ends in
:class:`DuckAgent`: the reply plays on from where it stopped, softer, while the machine
waits for the partial (a backchannel's comes 300-800 ms into the word, later than the
pause: without ducking the caller hears silence all that while). The rules that commit
while paused commit while ducked, and the reply is cut off then (a ducked "wait": the agent
paused on the speech start, played on softly, and stops for good on the partial);
:class:`UnduckAgent` brings it back to full level on a backchannel partial, the speech's
end or a finished turn that is only a backchannel.

Otherwise the pause ends (:class:`ResumeAgent`) when the VAD says speech
ended, or after :data:`PAUSE_WITHOUT_SPEECH` without any VAD speech (a pause
from an STT speech start the VAD never confirmed). A finished turn that is
only a backchannel while agent audio is queued is ignored
(:class:`IgnoreBackchannel`): the agent goes on.

*Backchannels and stop words*: a partial that is only a backchannel ("mm-hmm",
"yeah, okay") while paused, on speech no longer than :data:`BACKCHANNEL_SPEECH_MS`,
resumes the agent at once instead of at the speech's end; that speech then cuts nothing
by its length, and speech starting within :data:`BACKCHANNEL_GAP` of its end goes on
with it ("uh-huh, yeah": no new pause), until a partial or the finished turn says more
than a backchannel. A partial that opens with a word of :data:`STOP_WORDS` ("wait",
"stop", "no, ...") commits on its own, however few its words.

*The room* (``room_gate``, with a detector that tells the caller's speech from the
room's: the model detector of ``sipgw.media.model_vad``): the STT transcribes a TV or
voices across the room as readily as the caller. So its speech starts pause nothing (the
detector decides), its partials commit only while the detector hears speech or the agent
is paused, and a finished turn heard when the detector has taken less than
:data:`ROOM_MIN_CALLER_MS` of speech for the caller's since the previous one is
:class:`HeardFromRoom`: recorded, not answered, and it cuts nothing off.

The machine also shapes what the STT gets: :class:`MarkSpeechEnd` at each
loud-to-quiet edge (so the service can send the audio that completes the
end-of-turn silence at once), and smaller chunks (:class:`SetSttChunk`) for
:data:`FAST_CHUNKS_AFTER_SPEECH` after the caller's last loud frame, while
the turn detector counts silence; once the STT has ended the turn and the
caller is still quiet (VAD not speaking), larger ones (:data:`SLOW_CHUNK_MS`:
fewer messages and wake-ups while nobody talks) until the next loud frame,
which goes back to the configured size (the STT service then sends what it
had batched at once).

*Preemptive replies* (on when ``preemptive_pause_ms`` is set): a partial
transcript that arrives while the caller is quiet (Universal-3 Pro sends one
per silence period) is the turn so far; once the caller has been quiet for
``preemptive_pause_ms`` the machine says :class:`StartPreemptive` with it, so
the agent can start the LLM before the end of turn. A new partial with other
words, or the caller talking again (``start_ms`` of loud frames in a row, even
within the VAD's hangover), says :class:`DropPreemptive`. At the end
of turn the agent compares the final with the preemptive text
(:func:`same_words`) and adopts or drops the request; it never speaks before
the end of turn. Nothing preemptive starts while a reply is active.

*Partials during speech* (on when ``speech_partials`` is set, with preemptive
replies): Universal-3 Pro also sends partials while the caller talks (an early
one ~300-800 ms into the turn, ``interruption_delay``; one about every 3 s with
``continuous_partials``). Such a partial describes audio that is already a
model latency old, so it usually lacks the words said since; it is used only
when it proves *stable*, by two rules: it extends the turn's previous partial
(its words start with that partial's words: the model revised nothing), and
when the caller then goes quiet its last word ends within
:data:`PARTIAL_TAIL_MS` of the caller's last loud frame, both measured in
the same audio stream (the machine counts the frames it is given, and those
that go to the STT around it, :meth:`TurnTaker.skip_audio`; the STT reports
each partial's end there, ``audio_end_ms``). A stable one is the quiet spell's
partial from that moment: after ``preemptive_pause_ms`` it starts the request
(:class:`StartPreemptive` with ``during_speech``), without waiting for the
partial the STT sends ``min_turn_silence`` later plus its own latency. Any
other partial heard during speech starts nothing.

*Early ends of turn* (``early_end``, :mod:`sipgw.agent.early_end`): after a set silence
of the detector in a turn, and unless the turn's latest partial leaves the sentence open
(``vad+text``) or the turn model hears the caller unfinished (``model``: it is given every
frame, :meth:`EarlyTurnEnd.hear`; a partial that ends a sentence later in the pause may
end it too), the machine says :class:`ForceTurnEnd`: the agent asks the STT to finalize
now (AssemblyAI's ``ForceEndpoint``); its final comes as any other, and the STT's own end
of turn stays the fallback.

*Tentative ends* (``early_end`` in ``words`` mode): the final that answers a forced end
carries every word said up to the pause, and the machine answers it only when those words
end a sentence (:mod:`sipgw.agent.turn_text`'s scorer, which reads them after the agent's
last line, ``words``: a short answer to its question is whole) and the caller has not
gone on (``start_ms`` of loud frames in a row since the force); otherwise the words are *held*:
no reply, and they open the caller's next turn (the next final is joined to them), or are
answered on their own after :data:`HELD_TURN_MS` of quiet. A reply to a tentative end
that the caller talks over (``start_ms`` of loud frames in a row) is paused at once, heard
or not yet (its audio is held while the LLM and TTS still work): ``commit_ms`` of speech
cuts it off, the speech's end resumes it (or 0.5 s without speech, for a sound that was
none), as any barge-in; before its first frame is heard any loud frame pauses it, and so
does a soft one (:data:`SOFT_ONSET_DBFS`), and that pause is never ducked (the reply would
start, softly, over the caller going on).

Frames are counted as time: the caller passes one frame per 20 ms, in order.
Actions without data are shared instances and a frame that changes nothing
returns an empty tuple, so the per-frame path allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol, TypeAlias

from sipgw.agent.early_end import EarlyTurnEnd
from sipgw.agent.stt.base import SttEvent, SttPartialTranscript, SttSpeechStarted, SttTurnEnded
from sipgw.agent.turn_text import AfterAgent
from sipgw.media.vad import FRAME_MS, VadConfig, VadEvent, VoiceActivityDetector, VoiceDetector

__all__ = [
    "BACKCHANNELS",
    "BACKCHANNEL_GAP",
    "BACKCHANNEL_SPEECH_MS",
    "FAST_CHUNKS_AFTER_SPEECH",
    "FAST_CHUNK_MS",
    "HELD_TURN_MS",
    "ROOM_MIN_CALLER_MS",
    "PARTIAL_TAIL_MS",
    "PAUSE_WITHOUT_SPEECH",
    "SLOW_CHUNK_MS",
    "STOP_WORDS",
    "STT_SPEECH_ECHO",
    "AgentState",
    "Cause",
    "CommitBargeIn",
    "DropPreemptive",
    "DuckAgent",
    "ForceTurnEnd",
    "HeardFromRoom",
    "IgnoreBackchannel",
    "MarkSpeechEnd",
    "PauseAgent",
    "ResumeAgent",
    "SetSttChunk",
    "StartPreemptive",
    "StartReply",
    "TurnAction",
    "TurnTaker",
    "UnduckAgent",
    "is_backchannel",
    "normalized_words",
    "same_words",
    "without_speech",
]

STT_SPEECH_ECHO: Final = 1.5
"""An STT speech start this soon (s) after the VAD's own start is the same speech."""
PAUSE_WITHOUT_SPEECH: Final = 0.5
"""Seconds a pause lasts without VAD speech before the agent resumes."""
FAST_CHUNK_MS: Final = 50
"""STT chunk size right after caller speech (AssemblyAI's minimum)."""
FAST_CHUNKS_AFTER_SPEECH: Final = 1.5
"""Seconds after the caller's last loud frame that STT chunks stay small."""
SLOW_CHUNK_MS: Final = 250
"""STT chunk size once the STT ended the turn and the caller stays quiet."""
PARTIAL_TAIL_MS: Final = 150
"""Caller speech after a partial's last word that still counts as that word's trailing
sound (a breath, a drawn-out vowel; the VAD's energy edge against the model's word end):
shorter than any spoken word. A partial heard during speech that ends earlier than this
before the caller's last loud frame lacks words and starts nothing; one that ends later
than this after it (which one stream cannot produce: the counts disagree) neither."""
HELD_TURN_MS: Final = 1000
"""A tentative turn held for its unfinished words (``early_end`` ``words``) is answered
after this much quiet since the caller's last loud frame if they say nothing more (the
service's own wait for an unfinished sentence, ``max_turn_silence``)."""
SOFT_ONSET_DBFS: Final = -50.0
SOFT_ONSET_MARGIN_DB: Final = 6.0
"""While a reply to a tentative end is not heard yet, a frame this loud (dBFS), and this far
(dB) above the detector's noise floor, holds it: a soft first sound ("f", "s", "h") is
some 10 dB under the detector's speech level (``min_level_dbfs``, -40) for a frame or two,
and the reply must not start over the caller's next word. A sound that is no speech
delays the reply by :data:`PAUSE_WITHOUT_SPEECH` at most."""
ROOM_MIN_CALLER_MS: Final = 140
"""With a detector that tells the caller from the room (``room_gate``): a finished turn
heard when the caller has said less than this since the previous one (the detector's loud
frames) is the room's (a TV, voices across the room), heard but not answered."""
BACKCHANNELS: Final = frozenset(
    {
        "mm", "mmm", "mhm", "mm-hm", "mm-hmm", "mmhmm", "hmm", "uh-huh", "uh huh", "uhhuh",
        "aha", "ah", "oh", "yeah", "yep", "yes", "ok", "okay", "right", "sure", "i see",
        "got it", "alright", "all right",
    }
)  # fmt: skip
"""What a listener says to show they are listening; never a barge-in while the agent talks."""
STOP_WORDS: Final = frozenset(
    {"wait", "stop", "no", "nope", "hold", "hang", "sorry", "excuse", "what", "hey", "actually"}
)
"""A partial that opens with one of these words cuts the reply off on its own (fewer than
``min_words`` words): the caller takes the floor ("wait", "stop", "no, ...")."""
BACKCHANNEL_GAP: Final = 1.0
"""Seconds after speech whose partial was only a backchannel within which more speech is
taken as the same backchannel going on ("uh-huh, yeah"): it pauses nothing; its partials
and the finished turn still cut the reply off if they say more."""
BACKCHANNEL_SPEECH_MS: Final = 800
"""Speech no longer than this whose partial is only a backchannel resumes the agent at once
(it is "mm-hmm", not the start of a turn)."""

_PUNCTUATION: Final = str.maketrans(",.!?", "    ")


def is_backchannel(text: str) -> bool:
    """Whether a transcript is only a backchannel ("Mm-hmm.", "Yeah, okay.")."""
    words = " ".join(text.lower().translate(_PUNCTUATION).split())
    if not words or words in BACKCHANNELS:
        return True
    return all(word in BACKCHANNELS for word in words.split())


def opens_with_stop_word(text: str) -> bool:
    """Whether a transcript starts with a word of :data:`STOP_WORDS` ("Wait", "No, no")."""
    words = text.lower().translate(_PUNCTUATION).split()
    return bool(words) and words[0] in STOP_WORDS


def normalized_words(text: str) -> str:
    """The words of a transcript without case, punctuation or extra whitespace."""
    kept = "".join(ch if ch.isalnum() or ch.isspace() or ch in "'-" else " " for ch in text)
    return " ".join(kept.lower().split())


def _extends(words: str, previous: str) -> bool:
    """Whether normalized ``words`` are ``previous`` plus maybe more (nothing revised)."""
    return words == previous or words.startswith(previous + " ")


def same_words(a: str, b: str) -> bool:
    """Whether two transcripts say the same words ("my name is sonny" == "My name is Sonny.")."""
    return normalized_words(a) == normalized_words(b)


# --------------------------------------------------------------------------- actions


class Cause(Enum):
    """Why a reply was cut off; the value is what the call record says."""

    SPEECH = "speech"
    """``commit_ms`` of caller speech."""
    TRANSCRIPT = "transcript"
    """A partial transcript with enough words."""
    TURN = "turn"
    """The caller finished a turn."""
    DTMF = "dtmf"
    """A keypad digit."""
    NEW_TURN = "new turn"
    """The agent answers something else (keypad input, a failed transfer)."""
    NOTICE = "notice"
    """The agent speaks a fixed notice (e.g. it cannot hear the caller)."""


@dataclass(frozen=True, slots=True)
class PauseAgent:
    """Caller speech started over the agent: hold its audio where it is."""


@dataclass(frozen=True, slots=True)
class ResumeAgent:
    """The pause was no barge-in: play on from where the audio stopped."""

    paused_ms: float
    """How long the audio was paused."""


@dataclass(frozen=True, slots=True)
class DuckAgent:
    """A pause still undecided (see ``duck_after_ms``): play on from where the audio
    stopped, softer, until :class:`UnduckAgent` or :class:`CommitBargeIn`."""

    paused_ms: float
    """How long the audio was paused."""


@dataclass(frozen=True, slots=True)
class UnduckAgent:
    """The caller's speech over the ducked reply was no barge-in: back to full level."""


@dataclass(frozen=True, slots=True)
class CommitBargeIn:
    """The caller really interrupts: cancel the active reply, drop its queued audio.

    Emitted whether or not a reply is still active: with none, only the pause ends.
    """

    cause: Cause
    reaction_ms: float | None
    """From the caller's speech onset to the pause, if there was one."""


@dataclass(frozen=True, slots=True)
class StartReply:
    """The caller's turn is over: reply to ``text``."""

    text: str
    speech_end_at: float | None
    """The caller's last loud frame before the turn ended (VAD), if any."""
    stt_final_at: float
    """When the STT's end of turn arrived."""


@dataclass(frozen=True, slots=True)
class StartPreemptive:
    """The caller paused on a stable transcript: start the reply's LLM request on ``text``.

    Nothing may be spoken (and no tool run) before the turn ends.
    """

    text: str
    during_speech: bool = False
    """The partial was heard while the caller spoke (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class DropPreemptive:
    """The preemptive text is out of date (the caller went on): cancel its request."""


@dataclass(frozen=True, slots=True)
class IgnoreBackchannel:
    """A finished turn that is only "mm-hm" while the agent talks: it talks on."""

    text: str


@dataclass(frozen=True, slots=True)
class HeardFromRoom:
    """A finished turn the detector did not hear from the caller (a TV, voices across the
    room): recorded as heard, not answered, and it cuts nothing off."""

    text: str


@dataclass(frozen=True, slots=True)
class MarkSpeechEnd:
    """The caller just went quiet: tell the STT before sending this frame."""


@dataclass(frozen=True, slots=True)
class ForceTurnEnd:
    """The caller's silence ends the turn: ask the STT to finalize it now."""


@dataclass(frozen=True, slots=True)
class SetSttChunk:
    """Send the STT this much audio per message from now on (None: its configured size)."""

    chunk_ms: int | None


TurnAction: TypeAlias = (
    PauseAgent
    | ResumeAgent
    | DuckAgent
    | UnduckAgent
    | CommitBargeIn
    | StartReply
    | IgnoreBackchannel
    | HeardFromRoom
    | MarkSpeechEnd
    | ForceTurnEnd
    | SetSttChunk
    | StartPreemptive
    | DropPreemptive
)
"""What :class:`TurnTaker` asks the agent to do."""

_SPEAKING = (
    PauseAgent, ResumeAgent, DuckAgent, CommitBargeIn, StartReply, StartPreemptive,
    IgnoreBackchannel, ForceTurnEnd,
)  # fmt: skip
# UnduckAgent is not among them: back to full level is never wrong (a duck begun before
# turns were held must not outlast it).


def without_speech(actions: tuple[TurnAction, ...]) -> tuple[TurnAction, ...]:
    """``actions`` less those that make the agent speak, stop or wait, or end a turn early
    (the caller's words are no turns now: they are on hold, or the callee is a recording);
    what shapes the speech-to-text stream, and the end of a duck, stay."""
    return tuple(action for action in actions if not isinstance(action, _SPEAKING))


# The actions a frame returns most often, made once: a quiet frame allocates nothing, and
# the chunk size asked for last is told apart by identity. ``Final`` and of any length
# (``tuple[X, ...]``): compiled, each is one static object, read without a lookup in the
# module's dictionary (a tuple of fixed length would be rebuilt where it is used).
_NOTHING: Final[tuple[TurnAction, ...]] = ()
_PAUSE: Final[tuple[TurnAction, ...]] = (PauseAgent(),)
_MARK_SPEECH_END: Final[tuple[TurnAction, ...]] = (MarkSpeechEnd(),)
_FORCE_TURN_END: Final[tuple[TurnAction, ...]] = (ForceTurnEnd(),)
_FAST_CHUNKS: Final[tuple[TurnAction, ...]] = (SetSttChunk(FAST_CHUNK_MS),)
_NORMAL_CHUNKS: Final[tuple[TurnAction, ...]] = (SetSttChunk(None),)
_SLOW_CHUNKS: Final[tuple[TurnAction, ...]] = (SetSttChunk(SLOW_CHUNK_MS),)
_DROP: Final[tuple[TurnAction, ...]] = (DropPreemptive(),)
_UNDUCK: Final[tuple[TurnAction, ...]] = (UnduckAgent(),)
_VAD_NONE: Final = VadEvent.NONE
_VAD_STARTED: Final = VadEvent.STARTED


class AgentState(Protocol):
    """The agent's side, as the machine reads it when a rule needs it."""

    @property
    def audible(self) -> bool:
        """Agent audio is queued and playing (not held, not paused)."""
        ...

    @property
    def pending(self) -> bool:
        """Agent audio is queued, playing or paused."""
        ...

    def active_reply_started_at(self) -> float | None:
        """When the reply still generating or playing started; None without one."""
        ...


# --------------------------------------------------------------------------- the machine


class TurnTaker:
    """One call's turn-taking; see the module docstring.

    Args:
        agent: the agent's side (audio and reply state).
        commit_ms: loud speech that commits a barge-in.
        min_words: words of a partial transcript that commit a barge-in.
        vad: the voice-activity detector's settings; its ``start_ms`` pauses.
        detector: the detector to use instead of an energy one with ``vad`` (the
            model detector of ``sipgw.media.model_vad``, built with the same settings).
        preemptive_pause_ms: quiet (ms of frames since the last loud frame) after
            which a partial transcript starts a preemptive reply; None = never.
        speech_partials: a stable partial heard while the caller speaks may start a
            preemptive reply too (see the module docstring).
        early_end: when the detector's silence ends a turn before the STT does; None = never.
        room_gate: the detector tells the caller's speech from the room's (the model
            detector): the STT's speech starts pause nothing by themselves, its partials
            cut nothing off unless the detector hears the caller, and a finished turn
            whose audio holds under :data:`ROOM_MIN_CALLER_MS` of the caller's speech is
            :class:`HeardFromRoom`, not answered (see the module docstring).
        duck_after_ms: a pause of the agent's audio still undecided after this long
            (ms) plays on softer (:class:`DuckAgent`) until the caller's words decide;
            None = it stays paused (see the module docstring).
        words: whether a tentative end's words end the turn (:class:`AfterAgent`).

    Attributes:
        vad: the detector every frame goes through.
        paused_at: when the agent's audio was paused, while it is.
        speech_started_at: onset of the VAD's latest speech start.
        last_loud_at: arrival of the caller's latest loud frame.
    """

    __slots__ = (
        "_backchannel", "_backchannel_until", "_caller_frames", "_candidate", "_chunks",
        "_duck_after", "_ducked_at", "_early",
        "_heard_onset", "_loud_frames", "_onset_at", "_partial", "_partial_in_speech", "_preempted",
        "_quiet_frames", "_resumed_frames", "_stream_frames", "_turn_over", "_turn_partial",
        "_was_loud", "_forced", "_resumed_after_force", "_held", "_forced_reply", "_words",
        "_paused_unheard",
        "agent", "commit_ms", "last_loud_at", "min_words", "paused_at",
        "preemptive_pause_ms", "room_gate", "speech_partials", "speech_started_at", "vad",
    )  # fmt: skip

    def __init__(
        self,
        agent: AgentState,
        *,
        commit_ms: int = 600,
        min_words: int = 2,
        vad: VadConfig | None = None,
        preemptive_pause_ms: int | None = None,
        speech_partials: bool = False,
        detector: VoiceDetector | None = None,
        early_end: EarlyTurnEnd | None = None,
        room_gate: bool = False,
        duck_after_ms: int | None = None,
        words: AfterAgent | None = None,
    ) -> None:
        self.agent = agent
        # Seconds of an undecided pause before the reply plays on ducked (None: never),
        # and the pause a ducked reply came from, while it is ducked.
        self._duck_after = None if duck_after_ms is None else duck_after_ms / 1000
        self._ducked_at: float | None = None
        # Tentative ends (``words``): a forced end awaiting its final; the caller went on
        # since; the words held for the next turn; the active reply answers a forced end.
        self._forced = False
        self._resumed_after_force = False
        self._held: str | None = None
        self._forced_reply = False
        # The current pause holds a tentative reply before its first frame was heard: it is
        # never ducked (a ducked reply would start over the caller going on).
        self._paused_unheard = False
        self._words = words or AfterAgent(str)
        self.room_gate = room_gate
        self._caller_frames = 0  # the detector's loud frames since the STT's last turn
        # The current speech's partial is only a backchannel; until when (after it ends) the
        # next speech goes on with it (no pause).
        self._backchannel = False
        self._backchannel_until = 0.0
        self._early = early_end
        self.preemptive_pause_ms = preemptive_pause_ms
        self.speech_partials = speech_partials
        self._partial: str | None = None  # a partial heard in the current quiet spell
        self._partial_in_speech = False  # ... that was heard during speech
        self._preempted: str | None = None  # the text of the preemptive request, if any
        # A partial heard during speech, (text, end of its last word in stream ms): judged
        # when the caller goes quiet. And the turn's latest partial, (turn, words).
        self._candidate: tuple[str, int] | None = None
        self._turn_partial: tuple[int, str] | None = None
        self._stream_frames = 0  # frames of the STT's audio stream so far
        self.commit_ms = commit_ms
        self.min_words = min_words
        self.vad: VoiceDetector = detector or VoiceActivityDetector(
            vad or VadConfig(start_ms=60, hangover_ms=300)
        )
        self.paused_at: float | None = None
        self.speech_started_at: float | None = None
        self.last_loud_at: float | None = None
        self._onset_at: float | None = None
        self._heard_onset: float | None = None  # the latest speech start, VAD's or STT's
        self._chunks = _NORMAL_CHUNKS  # the STT chunk size asked for last
        self._turn_over = False  # the STT ended a turn since the last loud frame
        self._was_loud = False
        self._quiet_frames = 0  # frames since the last loud one
        self._loud_frames = 0  # loud frames in a row
        # Loud frames in a row that mean the caller goes on (the VAD's start): within
        # its hangover the VAD starts no new speech, so the machine counts them itself.
        self._resumed_frames = self.vad.config.start_frames

    # -- inputs

    def receive_audio(self, frame: bytes, now: float) -> tuple[TurnAction, ...]:
        """The caller's next 20 ms frame (μ-law), arrived at ``now``."""
        vad = self.vad
        event = vad.push(frame)
        loud = vad.loud
        self._stream_frames += 1
        actions = _NOTHING
        early = self._early
        if early is not None:
            early.hear(frame)
        if loud:
            if vad.speaking and event is _VAD_NONE:
                self._caller_frames += 1
            self.last_loud_at = now
            self._turn_over = False
            self._quiet_frames = 0
            self._loud_frames += 1
            if early is not None and vad.speaking:
                early.speech()
        else:
            self._loud_frames = 0
            self._quiet_frames += 1
            if self._was_loud:
                actions = _MARK_SPEECH_END
                if self._candidate is not None:
                    self._judge_candidate()
            if early is not None and early.quiet(self._quiet_frames):
                actions += _FORCE_TURN_END
                self._forced = early.tentative
                self._resumed_after_force = False
            if self._held is not None and self._quiet_frames * FRAME_MS >= HELD_TURN_MS:
                held, self._held = self._held, None  # nothing more came: answer the words
                self._forced_reply = True  # still tentative: the caller may go on
                actions += (StartReply(held, self.last_loud_at, now),)
        self._was_loud = loud
        # Right after the caller stops talking the turn detector counts silence:
        # the smallest chunks get that silence to it sooner.
        last_loud = self.last_loud_at
        # Once the turn is over and the caller stays quiet, nothing waits on the STT.
        if self._turn_over and not loud and not vad.speaking:
            chunks = _SLOW_CHUNKS
        elif not loud and last_loud is not None and now - last_loud < FAST_CHUNKS_AFTER_SPEECH:
            chunks = _FAST_CHUNKS
        else:
            chunks = _NORMAL_CHUNKS
        if chunks is not self._chunks:
            self._chunks = chunks
            actions += chunks
        paused_at = self.paused_at
        if event is _VAD_NONE:  # most frames: only the timers below can fire
            if paused_at is not None:
                if not vad.speaking:
                    if now - paused_at > PAUSE_WITHOUT_SPEECH:
                        # A pause the VAD never confirmed (e.g. the STT's speech start
                        # for a sound the VAD had already finished with): nobody talks.
                        actions += (self._resume(now),)
                elif vad.speech_ms >= self.commit_ms:
                    actions += (self._commit(Cause.SPEECH),)
                elif (
                    self._duck_after is not None
                    and now - paused_at >= self._duck_after - 1e-6
                    and not self._paused_unheard
                ):
                    actions += (self._duck(now),)  # undecided: play on softly meanwhile
            elif self._ducked_at is not None:
                if vad.speaking and vad.speech_ms >= self.commit_ms:
                    actions += (self._commit(Cause.SPEECH),)
            elif (
                vad.speaking
                and vad.speech_ms >= self.commit_ms
                and not self._backchannel
                and self._speech_interrupts_reply()
            ):
                actions += (self._commit(Cause.SPEECH),)
            if self._partial is not None and not loud:
                actions += self._maybe_preempt()
        elif event is _VAD_STARTED:
            self._caller_frames += vad.speech_frames
            onset = now - vad.speech_ms / 1000
            self.speech_started_at = onset
            if self._backchannel and now <= self._backchannel_until:
                self._heard_onset = onset  # "uh-huh, yeah": the backchannel goes on
            else:
                self._backchannel = False
                actions += self._caller_started(onset, now)
            if self._partial is not None or self._preempted is not None:
                actions += self._drop_preemptive()  # the caller goes on: new words will come
        else:  # speech ended
            self._backchannel_until = now + BACKCHANNEL_GAP
            if paused_at is not None:  # before the commit: no barge-in
                actions += (self._resume(now),)
            elif self._ducked_at is not None:
                actions += self._unduck()
        if (
            self._forced_reply
            and self.paused_at is None
            and (
                loud
                or vad.level_dbfs >= max(SOFT_ONSET_DBFS, vad.noise_dbfs + SOFT_ONSET_MARGIN_DB)
            )
            and not self.agent.audible
        ):
            # Any sound before a tentative reply is heard holds it (no echo yet to mistake),
            # a soft onset under the detector's speech level too.
            actions += self._went_on_after_force(now)
        if self._loud_frames == self._resumed_frames:
            if self._partial is not None or self._preempted is not None:
                # The caller goes on after a pause shorter than the VAD's hangover.
                actions += self._drop_preemptive()
            if self._forced or self._forced_reply:
                actions += self._went_on_after_force(now)
        return actions

    def _went_on_after_force(self, now: float) -> tuple[TurnAction, ...]:
        """The caller talks again after a tentative end (``start_ms`` of loud frames; any
        loud frame while its reply is not heard yet): its final, still to come, is held; a
        reply to it that has started is paused."""
        if self._loud_frames >= self._resumed_frames:
            self._resumed_after_force = self._forced
        if (
            self._forced_reply
            and self.paused_at is None
            and self.agent.active_reply_started_at() is not None
        ):
            self.paused_at = now
            self._onset_at = now - self._loud_frames * FRAME_MS / 1000
            self._paused_unheard = not self.agent.audible
            return _PAUSE
        return _NOTHING

    def skip_audio(self) -> None:
        """A frame went to the STT without passing through the machine (the caller holds
        the call: silence): the audio stream moves on all the same."""
        self._stream_frames += 1

    def receive_stt(self, event: SttEvent, now: float) -> tuple[TurnAction, ...]:
        """An event of the speech-to-text service, handled at ``now``."""
        if isinstance(event, SttTurnEnded):
            self._turn_over = True
            if self._early is not None:
                self._early.turn_ended(self.vad.loud)
            return self._turn_ended(event)
        if isinstance(event, SttSpeechStarted):
            if self.room_gate:
                return _NOTHING  # the detector tells the caller's speech from the room's
            seen = self.speech_started_at
            if seen is None or event.received_at - seen > STT_SPEECH_ECHO:
                return self._caller_started(event.received_at, now)  # speech the VAD missed
        elif isinstance(event, SttPartialTranscript):
            ended = _NOTHING  # the early end may weigh a partial of the pause anew
            if self._early is not None and self._early.partial(event.text, quiet=not self.vad.loud):
                ended = _FORCE_TURN_END
            if event.text.strip() and is_backchannel(event.text):
                self._backchannel = True
                if self.vad.speech_ms <= BACKCHANNEL_SPEECH_MS:
                    if self.paused_at is not None:
                        return (*ended, self._resume(now))  # "mm-hmm": the agent talks on at once
                    if self._ducked_at is not None:
                        return ended + self._unduck()
            elif event.text.strip():
                self._backchannel = False
            if (
                (len(event.text.split()) >= self.min_words or opens_with_stop_word(event.text))
                and not is_backchannel(event.text)
                and (
                    self.paused_at is not None
                    or self._ducked_at is not None
                    or (self.agent.audible and self._heard_since())
                )
                and (not self.room_gate or self.paused_at is not None or self.vad.speaking)
            ):
                return (*ended, self._commit(Cause.TRANSCRIPT))
            if self.preemptive_pause_ms is not None:
                return ended + self._partial_heard(event)
            return ended
        return _NOTHING

    def receive_dtmf(self, now: float) -> tuple[TurnAction, ...]:
        """A keypad digit: it cuts off agent audio that is playing or paused."""
        if self.agent.audible or self.paused_at is not None:
            return (self._commit(Cause.DTMF),)
        return _NOTHING

    def agent_stopped(self) -> None:
        """The agent's audio stopped on its own, not for the caller: an opening begun at a
        pause in the callee's greeting starts over when they stop (agent/assistant/answering.py). A
        pause under way is then no barge-in to commit, nor to resume."""
        self.paused_at = self._onset_at = self._ducked_at = None
        self._paused_unheard = False

    def replace_reply(self, cause: Cause) -> tuple[TurnAction, ...]:
        """The agent is about to start a reply of its own: cut off the active one, if any."""
        if self.agent.active_reply_started_at() is not None:
            return (self._commit(cause),)
        return _NOTHING

    # -- rules

    def _caller_started(self, onset: float, now: float) -> tuple[TurnAction, ...]:
        """Caller speech began: pause the agent's audio if it is playing."""
        self._heard_onset = onset
        if self.paused_at is None and self._ducked_at is None and self.agent.audible:
            self.paused_at = now
            self._onset_at = min(onset, now)
            return _PAUSE
        return _NOTHING

    def _speech_interrupts_reply(self) -> bool:
        """The caller's speech began after the active reply started (not the turn it answers)."""
        started = self.agent.active_reply_started_at()
        onset = self.speech_started_at
        return started is not None and onset is not None and onset > started

    def _heard_since(self) -> bool:
        """Speech began after the active reply started (or none is active): a partial
        may be about it rather than about the turn that reply answers."""
        started = self.agent.active_reply_started_at()
        onset = self._heard_onset
        return started is None or (onset is not None and onset > started)

    def _partial_heard(self, event: SttPartialTranscript) -> tuple[TurnAction, ...]:
        """A partial transcript: the turn so far, if the caller is quiet now (or, heard
        during speech, a candidate judged when the caller goes quiet)."""
        text = event.text
        actions = _NOTHING
        if self._preempted is not None and not same_words(self._preempted, text):
            actions = self._drop_preemptive()
        words = normalized_words(text)
        if not words:
            return actions
        previous = self._turn_partial
        self._turn_partial = (event.turn_order, words)
        if self.vad.loud:
            self._candidate = None
            if (
                self.speech_partials
                and event.audio_end_ms is not None
                and (
                    previous is None
                    or previous[0] != event.turn_order
                    or _extends(words, previous[1])
                )
            ):
                self._candidate = (text, event.audio_end_ms)
            return actions
        self._partial, self._partial_in_speech = text, False
        return actions + self._maybe_preempt()

    def _judge_candidate(self) -> None:
        """The caller just went quiet: the partial heard during their speech is the quiet
        spell's partial if its last word ends close enough to their last loud frame."""
        assert self._candidate is not None
        text, end_ms = self._candidate
        self._candidate = None
        speech_end_ms = (self._stream_frames - 1) * FRAME_MS  # the last loud frame's end
        # Words ending far after the speech did cannot be: the two counts disagree.
        if abs(speech_end_ms - end_ms) <= PARTIAL_TAIL_MS:
            self._partial, self._partial_in_speech = text, True

    def _maybe_preempt(self) -> tuple[TurnAction, ...]:
        """Start the preemptive request once the caller has been quiet long enough."""
        text, pause = self._partial, self.preemptive_pause_ms
        if text is None or pause is None:
            return _NOTHING
        # Counted in frames (audio time), not on the clock: the STT's partial says it
        # heard N ms of silence in the same frames, and the ticks that delivered them
        # jitter by a millisecond or two either way.
        if self.last_loud_at is not None and self._quiet_frames * FRAME_MS < pause:
            return _NOTHING
        self._partial = None
        if self._preempted is not None or self.agent.active_reply_started_at() is not None:
            return _NOTHING  # the same words are preempted already; or the agent is replying
        if self.agent.pending:
            return _NOTHING
        self._preempted = text
        return (StartPreemptive(text, during_speech=self._partial_in_speech),)

    def _drop_preemptive(self) -> tuple[TurnAction, ...]:
        self._partial = None
        if self._preempted is None:
            return _NOTHING
        self._preempted = None
        return _DROP

    def _turn_ended(self, event: SttTurnEnded) -> tuple[TurnAction, ...]:
        # StartReply settles a preemptive request (the agent adopts or drops it);
        # a turn that starts no reply drops it.
        preempted, self._partial, self._preempted = self._preempted, None, None
        self._candidate = self._turn_partial = None
        drop = _DROP if preempted is not None else _NOTHING
        caller_ms, self._caller_frames = self._caller_frames * FRAME_MS, 0
        forced, self._forced = self._forced, False
        self._forced_reply = False
        text, held = event.text, self._held
        if held is not None and text.strip():
            text = f"{held} {text.strip()}"  # the held words open this turn
        if not text.strip():
            return drop
        if forced:
            if self._resumed_after_force or not self._words.finished(text):
                self._held = text  # the caller goes on (or will): no reply yet
                return drop
            self._forced_reply = True
        self._held = None
        if self.room_gate and caller_ms < ROOM_MIN_CALLER_MS:
            return (*drop, HeardFromRoom(text))  # a TV, voices across the room
        if self.agent.pending and is_backchannel(text):
            return (*drop, *self._unduck(), IgnoreBackchannel(text))
        self._backchannel = False  # a turn: the next speech is judged afresh
        reply = StartReply(text, self.last_loud_at, event.received_at)
        if self.agent.active_reply_started_at() is not None:
            return (self._commit(Cause.TURN), reply)
        return (reply,)

    def _duck(self, now: float) -> DuckAgent:
        paused_at = self.paused_at
        assert paused_at is not None
        self.paused_at, self._ducked_at = None, paused_at
        return DuckAgent(round((now - paused_at) * 1000, 1))

    def _unduck(self) -> tuple[TurnAction, ...]:
        if self._ducked_at is None:
            return _NOTHING
        self._ducked_at = self._onset_at = None
        return _UNDUCK

    def _resume(self, now: float) -> ResumeAgent:
        paused_at = self.paused_at
        paused_ms = 0.0 if paused_at is None else round((now - paused_at) * 1000, 1)
        self.paused_at = self._onset_at = None
        self._paused_unheard = False
        return ResumeAgent(paused_ms)

    def _commit(self, cause: Cause) -> CommitBargeIn:
        self._forced_reply = False
        reaction = None
        paused_at = self.paused_at if self.paused_at is not None else self._ducked_at
        if self._onset_at is not None and paused_at is not None:
            reaction = round((paused_at - self._onset_at) * 1000, 1)
        self.paused_at = self._onset_at = self._ducked_at = None
        self._paused_unheard = False
        return CommitBargeIn(cause, reaction)
