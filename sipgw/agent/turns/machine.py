"""Turn-taking and barge-in, sans-IO: when the caller's turn ends, and when they interrupt.

Theory of operation
-------------------
:class:`TurnTaker` takes the caller's side as input, one call per fact, each
with the time ``now``: every 20 ms frame of caller audio as it arrives
(:meth:`TurnTaker.receive_audio`; it runs its own voice-activity detector,
``sipgw.media.voice.vad``), the speech-to-text events (:meth:`TurnTaker.receive_stt`)
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
   yet (the reply was still being generated). The speech a pause commits on is
   counted from the pause's onset: a pause within a run of the detector's speech
   begun before it (the STT's late speech start; a reply to a tentative end paused
   in the hangover of the turn it answers) needs ``commit_ms`` of loud frames since
   then, not of the run.

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
room's: the model detector of ``sipgw.media.voice.model_vad``): the STT transcribes a TV or
voices across the room as readily as the caller. So its speech starts pause nothing (the
detector decides), its partials commit only while the detector hears speech or the agent
is paused, and a finished turn heard when the detector has taken less than
:data:`ROOM_MIN_CALLER_MS` of speech for the caller's since the previous one is
:class:`HeardFromRoom`: recorded, not answered, and it cuts nothing off. Once the detector
knows the caller's own level (learned from their turns: with the gate on, from the speech of
the turns it answers only, not of those it records as the room's), only its loud frames within
:data:`ROOM_CALLER_DB` of that level count: its speech runs on over a TV or babble after the
caller stops, and starts on them alone, at the room's level, 5-10 dB under the caller's;
and while it does not know the room's level, or the agent's audio is queued (over it the
detector's gate lets the room's loudest words through), only in runs of
:data:`ROOM_RUN_FRAMES` (a quieter voice reaches the caller's level only at its loudest
syllables' peaks; over the agent's audio, once the caller's level is known, a frame the
detector hears as quiet breaks a run too). The caller
goes on after a tentative end (below) on loud frames near their level only: the room's voice
after the forced end is not them. Words of the caller's held at a tentative end (unfinished,
or the caller's level unknown) are answered at the room's final, on their own. A forced
end's final with some of the caller's speech near their level (:data:`ROOM_PIECE_MS`) is held
as ever when its words are (a piece of a sentence the early end split off holds little of
it): the gate's count goes on to the next final, which decides for the words joined; held
that way, they are the room's with the room's next final. With less it is the room's. A
final that comes while a reply to a tentative end is queued (the sentence's tail) is the
caller's with :data:`ROOM_PIECE_MS` of their speech, and whatever it holds when the words
that reply answers reached the forced end (the caller was talking at it) and its own end
soon after it (``turn_tentative``'s ``TAIL_MAX_MS``): the rest of the sentence the early end
split, said over the reply and too soft for the gate ("please?").

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

*Early ends of turn* (``early_end``, :mod:`sipgw.agent.turns.early_end`): after a set silence
of the detector in a turn, and unless the turn's latest partial leaves the sentence open
(``vad+text``) or the turn model hears the caller unfinished (``model``: it is given every
frame, :meth:`EarlyTurnEnd.hear`; a partial that ends a sentence later in the pause may
end it too), the machine says :class:`ForceTurnEnd`: the agent asks the STT to finalize
now (AssemblyAI's ``ForceEndpoint``); its final comes as any other, and the STT's own end
of turn stays the fallback.

*Tentative ends* (``early_end`` in ``words`` mode): the final that answers a forced end
carries every word said up to the pause, and the machine answers it only when those words
end a sentence (:mod:`sipgw.agent.turns.text`'s scorer, which reads them after the agent's
last line, ``words``: a short answer to its question is whole) and the caller has not
gone on (``start_ms`` of loud frames in a row since the force); otherwise the words are *held*:
no reply, and they open the caller's next turn (the next final is joined to them), or are
answered on their own after :data:`HELD_TURN_MS` of quiet. A reply to a tentative end
that the caller talks over (``start_ms`` of loud frames in a row) is paused at once, heard
or not yet (its audio is held while the LLM and TTS still work): ``commit_ms`` of speech
cuts it off (counted from the pause's onset: the detector's run may have begun with the
turn the reply answers, still in its hangover), the speech's end resumes it (or 0.5 s
without speech, for a sound that was none), as any barge-in, unless the reply is not heard
yet and the speech since the pause was a word's worth (:data:`AWAITED_SPEECH_MS`): it may
answer half of the caller's words ("my order number is four five" | "six seven"), so it
stays paused until their final, which replaces it with the reply to them (as any turn; held
words cut it, their reply comes later), or, saying nothing (empty), lets it play; without
a final it plays after :data:`AWAIT_FINAL_MS` of quiet. Before its first frame is
heard any loud frame pauses it, and so does a soft one (:data:`SOFT_ONSET_DBFS`), and
that pause is never ducked (the reply would start, softly, over the caller going on).

Frames are counted as time: the caller passes one frame per 20 ms, in order.
Actions without data are shared instances and a frame that changes nothing
returns an empty tuple, so the per-frame path allocates nothing.

The code: the actions and :class:`AgentState` are in :mod:`sipgw.agent.turns.actions`,
the tests of a transcript's words (backchannels, stop words, :func:`same_words`) in
:mod:`sipgw.agent.turns.words`, both re-exported here. :class:`TurnTaker` owns four parts:
the pause and duck of the agent's audio (:mod:`sipgw.agent.turns.pause`), the preemptive
replies (:mod:`sipgw.agent.turns.preemptive`), the tentative ends
(:mod:`sipgw.agent.turns.tentative`) and the room gate's count (:mod:`sipgw.agent.turns.room`);
the rules that tie them to the caller's frames and the STT's events are here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sipgw.agent.services.stt.base import (
    SttEvent,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.talk import TalkTally
from sipgw.agent.turns.actions import (
    FORCE_TURN_END,
    MARK_SPEECH_END,
    NOTHING,
    AgentState,
    Cause,
    CommitBargeIn,
    DropPreemptive,
    DuckAgent,
    ForceTurnEnd,
    HeardFromRoom,
    IgnoreBackchannel,
    MarkSpeechEnd,
    PauseAgent,
    ResumeAgent,
    SetSttChunk,
    StartPreemptive,
    StartReply,
    TurnAction,
    UnduckAgent,
    without_speech,
)
from sipgw.agent.turns.early_end import EarlyTurnEnd
from sipgw.agent.turns.pause import AWAIT_FINAL_MS, AWAITED_SPEECH_MS, BargeInPause
from sipgw.agent.turns.preemptive import PARTIAL_TAIL_MS, PreemptiveReplies
from sipgw.agent.turns.room import (
    ROOM_CALLER_DB,
    ROOM_MIN_CALLER_MS,
    ROOM_PIECE_MS,
    ROOM_RUN_FRAMES,
    RoomGate,
)
from sipgw.agent.turns.tentative import HELD_TURN_MS, TentativeEnds
from sipgw.agent.turns.text import AfterAgent
from sipgw.agent.turns.words import (
    BACKCHANNELS,
    STOP_WORDS,
    is_backchannel,
    normalized_words,
    opens_with_stop_word,
    same_words,
)
from sipgw.media.voice.vad import (
    FRAME_MS,
    VadConfig,
    VadEvent,
    VoiceActivityDetector,
    VoiceDetector,
)

__all__ = [
    "BACKCHANNELS",
    "BACKCHANNEL_GAP",
    "BACKCHANNEL_SPEECH_MS",
    "FAST_CHUNKS_AFTER_SPEECH",
    "FAST_CHUNK_MS",
    "HELD_TURN_MS",
    "ROOM_CALLER_DB",
    "ROOM_MIN_CALLER_MS",
    "ROOM_PIECE_MS",
    "ROOM_RUN_FRAMES",
    "PARTIAL_TAIL_MS",
    "PAUSE_WITHOUT_SPEECH",
    "SLOW_CHUNK_MS",
    "STOP_WORDS",
    "STT_SPEECH_ECHO",
    "AWAITED_SPEECH_MS",
    "AWAIT_FINAL_MS",
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
    "retune",
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
SOFT_ONSET_DBFS: Final = -50.0
SOFT_ONSET_MARGIN_DB: Final = 6.0
"""While a reply to a tentative end is not heard yet, a frame this loud (dBFS), and this far
(dB) above the detector's noise floor, holds it: a soft first sound ("f", "s", "h") is
some 10 dB under the detector's speech level (``min_level_dbfs``, -40) for a frame or two,
and the reply must not start over the caller's next word. A sound that is no speech
delays the reply by :data:`PAUSE_WITHOUT_SPEECH` at most."""
BACKCHANNEL_GAP: Final = 1.0
"""Seconds after speech whose partial was only a backchannel within which more speech is
taken as the same backchannel going on ("uh-huh, yeah"): it pauses nothing; its partials
and the finished turn still cut the reply off if they say more."""
BACKCHANNEL_SPEECH_MS: Final = 800
"""Speech no longer than this whose partial is only a backchannel resumes the agent at once
(it is "mm-hmm", not the start of a turn)."""


# The chunk sizes the machine asks for, made once: the one asked for last is told apart by
# identity (``Final`` and of any length: see sipgw.agent.turns.actions' shared actions).
_FAST_CHUNKS: Final[tuple[TurnAction, ...]] = (SetSttChunk(FAST_CHUNK_MS),)
_NORMAL_CHUNKS: Final[tuple[TurnAction, ...]] = (SetSttChunk(None),)
_SLOW_CHUNKS: Final[tuple[TurnAction, ...]] = (SetSttChunk(SLOW_CHUNK_MS),)
_VAD_NONE: Final = VadEvent.NONE
_VAD_STARTED: Final = VadEvent.STARTED


# --------------------------------------------------------------------------- the machine


class TurnTaker:
    """One call's turn-taking; see the module docstring.

    Args:
        agent: the agent's side (audio and reply state).
        commit_ms: loud speech that commits a barge-in.
        min_words: words of a partial transcript that commit a barge-in.
        vad: the voice-activity detector's settings; its ``start_ms`` pauses.
        detector: the detector to use instead of an energy one with ``vad`` (the
            model detector of ``sipgw.media.voice.model_vad``, built with the same settings).
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
        talk: told the VAD's speech onsets and last loud frames (:mod:`sipgw.agent.talk`).
    """

    __slots__ = (
        "_backchannel", "_backchannel_until", "_chunks", "_early", "_heard_onset",
        "_loud_frames", "_pause", "_preemptive", "_quiet_frames", "_room",
        "_resumed_frames", "_stream_frames", "_tentative", "_turn_over", "_was_loud",
        "agent", "commit_ms", "last_loud_at", "min_words", "room_gate", "speech_started_at",
        "talk", "vad",
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
        self._pause = BargeInPause(duck_after_ms)
        self._preemptive = PreemptiveReplies(agent, preemptive_pause_ms, speech_partials)
        self._tentative = TentativeEnds(agent, words or AfterAgent(str))
        self.room_gate = room_gate
        # The current speech's partial is only a backchannel; until when (after it ends) the
        # next speech goes on with it (no pause).
        self._backchannel = False
        self._backchannel_until = 0.0
        self._early = early_end
        self._stream_frames = 0  # frames of the STT's audio stream so far
        self.commit_ms = commit_ms
        self.min_words = min_words
        self.vad: VoiceDetector = detector or VoiceActivityDetector(
            vad or VadConfig(start_ms=60, hangover_ms=300)
        )
        self.speech_started_at: float | None = None
        self.last_loud_at: float | None = None
        self.talk: TalkTally | None = None
        self._heard_onset: float | None = None  # the latest speech start, VAD's or STT's
        self._chunks = _NORMAL_CHUNKS  # the STT chunk size asked for last
        self._turn_over = False  # the STT ended a turn since the last loud frame
        self._was_loud = False
        self._quiet_frames = 0  # frames since the last loud one
        self._loud_frames = 0  # loud frames in a row
        # Loud frames in a row that mean the caller goes on (the VAD's start): within
        # its hangover the VAD starts no new speech, so the machine counts them itself.
        self._resumed_frames = self.vad.config.start_frames
        self._room = RoomGate(room_gate, self.vad, agent)  # the caller's speech since a final

    @property
    def paused_at(self) -> float | None:
        """When the agent's audio was paused, while it is."""
        return self._pause.paused_at

    def receive_audio(self, frame: bytes, now: float) -> tuple[TurnAction, ...]:
        """The caller's next 20 ms frame (μ-law), arrived at ``now``."""
        vad = self.vad
        event = vad.push(frame)
        loud = vad.loud
        self._stream_frames += 1
        actions = NOTHING
        early = self._early
        pause, preemptive = self._pause, self._preemptive
        tentative = self._tentative
        if early is not None:
            early.hear(frame)
        if loud:
            self._room.loud(vad, vad.speaking and event is _VAD_NONE)
            self.last_loud_at = now
            self._turn_over = False
            self._quiet_frames = 0
            self._loud_frames += 1
            if early is not None and vad.speaking:
                early.speech()
        else:
            self._loud_frames = 0
            self._room.quiet(vad.speaking)
            self._quiet_frames += 1
            if self._was_loud:
                actions = MARK_SPEECH_END
                if preemptive.candidate is not None:
                    preemptive.judge(self._stream_frames)
            if early is not None and early.quiet(self._quiet_frames):
                actions += FORCE_TURN_END
                tentative.forced_end(early.tentative, self._stream_frames)
            if tentative.held is not None:
                held = tentative.held_turn(self._quiet_frames)
                if held is not None:  # nothing more came: answer the words
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
        paused_at = pause.paused_at
        if event is _VAD_NONE:  # most frames: only the timers below can fire
            if paused_at is not None:
                if not vad.speaking:
                    if pause.waited_out(now, self._quiet_frames, PAUSE_WITHOUT_SPEECH):
                        # A pause the VAD never confirmed (e.g. the STT's speech start
                        # for a sound the VAD had already finished with): nobody talks;
                        # or the transcript a pause awaited never came.
                        actions += (pause.resume(now),)
                else:
                    pause.heard(vad.speech_ms)
                    if pause.said_ms >= self.commit_ms:
                        actions += (self._commit(Cause.SPEECH),)
                    elif pause.may_duck(now):
                        actions += (pause.duck(now),)  # undecided: play on softly meanwhile
            elif pause.ducked_at is not None:
                if vad.speaking and pause.speech_ms(vad.speech_ms) >= self.commit_ms:
                    actions += (self._commit(Cause.SPEECH),)
            elif (
                vad.speaking
                and vad.speech_ms >= self.commit_ms
                and not self._backchannel
                and self._speech_interrupts_reply()
            ):
                actions += (self._commit(Cause.SPEECH),)
            if preemptive.partial is not None and not loud:
                actions += preemptive.start(self._quiet_frames, last_loud is not None)
        elif event is _VAD_STARTED:
            self._room.started(vad)
            onset = now - vad.speech_ms / 1000
            self.speech_started_at = onset
            if self.talk is not None:
                self.talk.caller_started(onset)
            if self._backchannel and now <= self._backchannel_until:
                self._heard_onset = onset  # "uh-huh, yeah": the backchannel goes on
            else:
                self._backchannel = False
                actions += self._caller_started(onset, now)
            if preemptive.partial is not None or preemptive.preempted is not None:
                actions += preemptive.drop()  # the caller goes on: new words will come
        else:  # speech ended
            if self.talk is not None and self.last_loud_at is not None:
                self.talk.caller_stopped(self.last_loud_at)
            self._backchannel_until = now + BACKCHANNEL_GAP
            actions += pause.speech_ended(now, tentative.reply)  # before the commit
        went = self._room.caller_run(self._loud_frames)  # the caller going on, not the room
        if (
            tentative.reply
            and pause.paused_at is None
            and (
                loud
                or vad.level_dbfs >= max(SOFT_ONSET_DBFS, vad.noise_dbfs + SOFT_ONSET_MARGIN_DB)
            )
            and not self.agent.audible
        ):
            # Any sound, a soft onset too, holds a tentative reply not heard yet (no echo).
            actions += tentative.went_on(
                now, self._loud_frames, self._resumed_frames, pause, self._run_ms(), went
            )
        if self._loud_frames == self._resumed_frames and (
            preemptive.partial is not None or preemptive.preempted is not None
        ):  # the caller goes on after a pause shorter than the VAD's hangover
            actions += preemptive.drop()
        if went == self._resumed_frames and (tentative.forced or tentative.reply):
            actions += tentative.went_on(
                now, self._loud_frames, self._resumed_frames, pause, self._run_ms(), went
            )
        return actions

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
            return self._turn_ended(event, now)
        if isinstance(event, SttSpeechStarted):
            if self.room_gate:
                return NOTHING  # the detector tells the caller's speech from the room's
            seen = self.speech_started_at
            if seen is None or event.received_at - seen > STT_SPEECH_ECHO:
                # Speech the VAD missed, or heard in a run begun long before: the run's
                # speech before this start is not the speech it pauses.
                onset = min(event.received_at, now)
                since = min(self._loud_frames * FRAME_MS, round((now - onset) * 1000))
                before = max(0, self._run_ms() - since)
                return self._caller_started(event.received_at, now, before)
        elif isinstance(event, SttPartialTranscript):
            return self._partial_heard(event, now)
        return NOTHING

    def receive_dtmf(self, now: float) -> tuple[TurnAction, ...]:
        """A keypad digit: it cuts off agent audio that is playing or paused."""
        if self.agent.audible or self._pause.paused_at is not None:
            return (self._commit(Cause.DTMF),)
        return NOTHING

    def echo_heard(self) -> None:
        """The speech heard so far was the agent's echo (the echo guard found it late)."""
        self._room.echo_heard()

    def agent_stopped(self) -> None:
        """The agent's audio stopped on its own, not for the caller: an opening begun at a
        pause in the callee's greeting starts over when they stop (agent/assistant/answering.py). A
        pause under way is then no barge-in to commit, nor to resume."""
        self._pause.clear()

    def replace_reply(self, cause: Cause) -> tuple[TurnAction, ...]:
        """The agent is about to start a reply of its own: cut off the active one, if any."""
        if self.agent.active_reply_started_at() is not None:
            return (self._commit(cause),)
        return NOTHING

    # -- rules

    def _caller_started(
        self, onset: float, now: float, speech_before_ms: int = 0
    ) -> tuple[TurnAction, ...]:
        """Caller speech began: pause the agent's audio if it is playing
        (``speech_before_ms``: the detector's speech in its current run before ``onset``)."""
        self._heard_onset = onset
        pause = self._pause
        if pause.paused_at is None and pause.ducked_at is None and self.agent.audible:
            return pause.pause(now, min(onset, now), speech_before_ms=speech_before_ms)
        return NOTHING

    def _run_ms(self) -> int:
        """The detector's speech in its current run (ms of loud frames; 0 when it hears none)."""
        vad = self.vad
        return vad.speech_ms if vad.speaking else 0

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

    def _partial_heard(self, event: SttPartialTranscript, now: float) -> tuple[TurnAction, ...]:
        """A partial transcript: a backchannel, a barge-in, or the turn so far."""
        pause, vad = self._pause, self.vad
        ended = NOTHING  # the early end may weigh a partial of the pause anew
        early = self._early
        if early is not None and early.partial(
            event.text, quiet=not vad.loud, finished=self._tentative.reads_finished
        ):
            ended = FORCE_TURN_END
        if event.text.strip() and is_backchannel(event.text):
            self._backchannel = True
            if vad.speech_ms <= BACKCHANNEL_SPEECH_MS:
                if pause.paused_at is not None:
                    return (*ended, pause.resume(now))  # "mm-hmm": the agent talks on at once
                if pause.ducked_at is not None:
                    return ended + pause.unduck()
        elif event.text.strip():
            self._backchannel = False
        if (
            (len(event.text.split()) >= self.min_words or opens_with_stop_word(event.text))
            and not is_backchannel(event.text)
            and (
                pause.paused_at is not None
                or pause.ducked_at is not None
                or (self.agent.audible and self._heard_since())
            )
            and (not self.room_gate or pause.paused_at is not None or vad.speaking)
            and not self._room.echo
        ):
            return (*ended, self._commit(Cause.TRANSCRIPT))
        if self._preemptive.pause_ms is not None:
            heard_loud = self.last_loud_at is not None
            return ended + self._preemptive.heard(event, vad.loud, self._quiet_frames, heard_loud)
        return ended

    def _turn_ended(self, event: SttTurnEnded, now: float) -> tuple[TurnAction, ...]:
        # StartReply settles a preemptive request (the agent adopts or drops it);
        # a turn that starts no reply drops it.
        drop = self._preemptive.turn_ended()
        pause = self._pause
        said = bool(event.text.strip())
        room = self._room.room_turn(self._tentative.reply, self._tentative.tail(event)) and said
        text, room_text = self._tentative.settle(event.text, room, self._room.piece)
        heard = NOTHING if room_text is None else (HeardFromRoom(room_text),)
        self._room.settled(said, room, held=room_text is None)
        if text is None:  # nothing said, the room's, or words held for the caller's next turn
            held = not heard and said
            return drop + pause.awaited_final(now, held=held) + heard
        if not room and self.agent.pending and is_backchannel(text):
            return (*drop, *pause.awaited_final(now), *pause.unduck(), IgnoreBackchannel(text))
        self._backchannel = False  # a turn: the next speech is judged afresh
        reply = StartReply(text, self.last_loud_at, event.received_at)
        if self.agent.active_reply_started_at() is not None:
            return (*heard, self._commit(Cause.TURN), reply)
        return (*heard, reply)

    def _commit(self, cause: Cause) -> CommitBargeIn:
        self._tentative.reply = False
        return self._pause.commit(cause)


def retune(
    turns: TurnTaker, commit_ms: int, min_words: int, start_ms: int, early_end: EarlyTurnEnd | None
) -> None:
    """New barge-in settings and early end for ``turns`` mid-call (ConversationRelay's
    ``config``): speech from now on is counted against them; a pause in progress keeps its
    own. A model voice detector keeps its own start."""
    turns.commit_ms = commit_ms
    turns.min_words = min_words
    vad = turns.vad
    if isinstance(vad, VoiceActivityDetector) and start_ms != vad.config.start_ms:
        vad.config = replace(vad.config, start_ms=start_ms)
        turns._resumed_frames = vad.config.start_frames
    turns._early = early_end
