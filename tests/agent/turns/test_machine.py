"""Turn-taking and barge-in (agent/turns/machine.py), table-driven on a fake clock.

Each row is a script of timed inputs and the actions expected, with their
times. Audio is real μ-law frames (tones, silence, Gaussian noise) through
the real VAD, one frame per 20 ms: frame n arrives at n × 20 ms. A script
step ``(t, input)`` first plays the current audio source up to ``t`` ms,
then applies the input. A fake agent side reacts to the actions the way the
playout does (a pause makes it inaudible, a commit drops its audio).
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass

import pytest

from sipgw.agent.services.stt.base import SttPartialTranscript, SttSpeechStarted, SttTurnEnded
from sipgw.agent.talk import TalkTally
from sipgw.agent.turns.early_end import EarlyEndMode, EarlyTurnEnd
from sipgw.agent.turns.machine import (
    FAST_CHUNK_MS,
    SLOW_CHUNK_MS,
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
    TurnTaker,
    UnduckAgent,
    is_backchannel,
    same_words,
    without_speech,
)
from sipgw.app.evaluation.audio import noise_frame, tone_frame
from sipgw.media import g711
from sipgw.media.voice.vad import VadConfig, VadEvent, VoiceActivityDetector

# --------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class Audio:
    """What the caller sends from now on."""

    name: str


SILENCE, SPEECH, NOISE, SPEECH_OVER_NOISE = (
    Audio("silence"), Audio("speech"), Audio("noise"), Audio("speech over noise"),
)  # fmt: skip
SOFT_SPEECH, ROOM_VOICE = Audio("soft speech"), Audio("room voice")
"""The caller 5 dB under their loud level; a voice across the room 10 dB under it."""
NOISE_DBFS = -30.0  # above the VAD's absolute floor (-40): only the learned floor rejects it


def frame_of(source: Audio, n: int, rng: random.Random) -> bytes:
    if source is SPEECH:
        return tone_frame(300, -20)
    if source is NOISE:
        return noise_frame(NOISE_DBFS, rng)
    if source is SPEECH_OVER_NOISE:
        return tone_frame(300, -12)
    if source is SOFT_SPEECH:
        return tone_frame(300, -23)
    if source is ROOM_VOICE:
        return tone_frame(300, -30)
    return g711.silence_frame("PCMU")


# --------------------------------------------------------------------------- other inputs


@dataclass(frozen=True)
class AgentTalks:
    """A reply starts and its audio plays."""


@dataclass(frozen=True)
class ReplyStarts:
    """A reply starts; its audio is not here yet."""


@dataclass(frozen=True)
class SttSpeech:
    """The STT reports speech starting (received now)."""


@dataclass(frozen=True)
class Partial:
    text: str
    end_ms: int | None = None
    """Where its last word ends in the audio stream (the script's clock)."""
    turn: int = 0


@dataclass(frozen=True)
class Final:
    text: str
    end_ms: int | None = None
    """Where its last word ends in the audio stream (the script's clock)."""


@dataclass(frozen=True)
class Dtmf:
    """A keypad digit."""


@dataclass(frozen=True)
class AgentReplies:
    """The agent starts a reply of its own (keypad input, a notice)."""

    cause: Cause


@dataclass(frozen=True)
class End:
    """Stop the script here."""


Input = Audio | AgentTalks | ReplyStarts | SttSpeech | Partial | Final | Dtmf | AgentReplies | End


class FakeAgent:
    """The agent's side (sipgw.agent.turns.machine.AgentState), reacting to actions like the
    playout."""

    def __init__(self) -> None:
        self.playing = False
        self.paused = False
        self.ducked = False
        self.reply_started_at: float | None = None

    @property
    def audible(self) -> bool:
        return self.playing and not self.paused

    @property
    def pending(self) -> bool:
        return self.playing

    def active_reply_started_at(self) -> float | None:
        return self.reply_started_at

    def react(self, action: TurnAction, now: float) -> None:
        if isinstance(action, PauseAgent):
            self.paused = True
        elif isinstance(action, ResumeAgent):
            self.paused = False
        elif isinstance(action, DuckAgent):
            self.paused, self.ducked = False, True
        elif isinstance(action, UnduckAgent):
            self.ducked = False
        elif isinstance(action, CommitBargeIn):
            self.playing = self.paused = self.ducked = False
            self.reply_started_at = None
        elif isinstance(action, StartReply):
            self.playing, self.reply_started_at = False, now


class KnownCaller:
    """The energy detector with the caller's loud level known (``caller_dbfs``), as the model
    detector learns it from their turns."""

    def __init__(self, caller_dbfs: float) -> None:
        self._vad = VoiceActivityDetector(VadConfig(start_ms=60, hangover_ms=300))
        self.caller_dbfs: float | None = caller_dbfs
        self.room_dbfs: float | None = None  # the room's level unknown: runs count
        self.speaking = self.loud = False
        self.speech_frames = 0
        self.level_dbfs = self.noise_dbfs = self._vad.level_dbfs
        self.judging = False  # asked to learn the caller's level from judged turns only
        self.judged: list[bool] = []  # each final's judgement: the caller's turn or not

    @property
    def config(self) -> VadConfig:
        return self._vad.config

    @property
    def speech_ms(self) -> int:
        return self._vad.speech_ms

    def push(self, frame: bytes | None) -> VadEvent:
        vad = self._vad
        event = vad.push(frame)
        self.speaking, self.loud, self.speech_frames = vad.speaking, vad.loud, vad.speech_frames
        self.level_dbfs, self.noise_dbfs = vad.level_dbfs, vad.noise_dbfs
        return event

    def judge_turns(self) -> None:
        """The level here is given; the machine's judgements are recorded."""
        self.judging = True

    def turn_judged(self, callers: bool) -> None:
        self.judged.append(callers)


class Harness:
    def __init__(
        self,
        preemptive_pause_ms: int | None = None,
        speech_partials: bool = False,
        room_gate: bool = False,
        duck_after_ms: int | None = None,
        caller_dbfs: float | None = None,
        early_end: EarlyTurnEnd | None = None,
    ) -> None:
        self.agent = FakeAgent()
        detector = None if caller_dbfs is None else KnownCaller(caller_dbfs)
        self.turns = TurnTaker(
            self.agent, commit_ms=600, min_words=2, vad=VadConfig(start_ms=60, hangover_ms=300),
            preemptive_pause_ms=preemptive_pause_ms, speech_partials=speech_partials,
            room_gate=room_gate, duck_after_ms=duck_after_ms, detector=detector,
            early_end=early_end,
        )  # fmt: skip
        self.frames = 0
        self.source = SILENCE
        self.rng = random.Random(7)
        self.log: list[tuple[int, TurnAction]] = []

    @property
    def now(self) -> float:
        return self.frames * 20 / 1000

    def play_until(self, at_ms: int) -> None:
        assert at_ms % 20 == 0 and at_ms >= self.frames * 20, at_ms
        while self.frames * 20 < at_ms:
            self.frames += 1
            frame = frame_of(self.source, self.frames, self.rng)
            self.take(self.turns.receive_audio(frame, self.now))

    def apply(self, what: Input) -> None:
        now = self.now
        if isinstance(what, Audio):
            self.source = what
        elif isinstance(what, AgentTalks):
            self.agent.playing, self.agent.reply_started_at = True, now
        elif isinstance(what, ReplyStarts):
            self.agent.playing, self.agent.reply_started_at = False, now
        elif isinstance(what, SttSpeech):
            self.take(self.turns.receive_stt(SttSpeechStarted(0, now), now))
        elif isinstance(what, Partial):
            partial = SttPartialTranscript(what.text, what.turn, now, audio_end_ms=what.end_ms)
            self.take(self.turns.receive_stt(partial, now))
        elif isinstance(what, Final):
            final = SttTurnEnded(what.text, 0, (), now, what.end_ms)
            self.take(self.turns.receive_stt(final, now))
        elif isinstance(what, Dtmf):
            self.take(self.turns.receive_dtmf(now))
        elif isinstance(what, AgentReplies):
            self.take(self.turns.replace_reply(what.cause))

    def take(self, actions: tuple[TurnAction, ...]) -> None:
        for action in actions:
            self.log.append((round(self.now * 1000), action))
            self.agent.react(action, self.now)


Script = list[tuple[int, Input]]
Expected = list[tuple[int, TurnAction]]
BARGE_IN = (
    PauseAgent, ResumeAgent, DuckAgent, UnduckAgent, CommitBargeIn, StartReply,
    IgnoreBackchannel, HeardFromRoom,
)  # fmt: skip


def run(
    script: Script,
    watch: tuple[type, ...] = BARGE_IN,
    preemptive_pause_ms: int | None = None,
    speech_partials: bool = False,
    room_gate: bool = False,
    duck_after_ms: int | None = None,
    caller_dbfs: float | None = None,
    early_end: EarlyTurnEnd | None = None,
) -> Expected:
    harness = Harness(
        preemptive_pause_ms, speech_partials, room_gate, duck_after_ms, caller_dbfs, early_end
    )
    for at_ms, what in script:
        harness.play_until(at_ms)
        harness.apply(what)
    return [(t, action) for t, action in harness.log if isinstance(action, watch)]


PAUSE = PauseAgent()

# Speech switched on at 1000 ms: its 3rd loud frame (start_ms = 60) arrives at 1060,
# onset 1000; the VAD ends speech 300 ms (hangover) after the last loud frame.
ROWS: list[tuple[str, Script, Expected]] = [
    (
        "a short mm-hm pauses the agent, then it resumes",
        [(0, AgentTalks()), (1000, SPEECH), (1200, SILENCE), (2000, End())],
        [(1060, PAUSE), (1500, ResumeAgent(440.0))],
    ),
    (
        "a click shorter than start_ms never pauses",
        [(0, AgentTalks()), (1000, SPEECH), (1040, SILENCE), (2000, End())],
        [],
    ),
    (
        "sustained speech commits after commit_ms",
        [(0, AgentTalks()), (1000, SPEECH), (2000, SILENCE), (2600, End())],
        [(1060, PAUSE), (1600, CommitBargeIn(Cause.SPEECH, 60.0))],
    ),
    (
        "stationary noise learned by the VAD never counts; speech over it does",
        [(0, AgentTalks()), (0, NOISE), (3000, SPEECH_OVER_NOISE), (3200, NOISE), (4000, End())],
        [(3060, PAUSE), (3500, ResumeAgent(440.0))],
    ),
    (
        "words from the STT commit",
        [(0, AgentTalks()), (1000, SPEECH), (1300, Partial("wait a second")),
         (1300, SILENCE), (2000, End())],
        [(1060, PAUSE), (1300, CommitBargeIn(Cause.TRANSCRIPT, 60.0))],
    ),
    (
        "a partial of the turn the reply answers (its speech began before the reply "
        "started: an opening released after the callee's words) commits nothing",
        [(1000, SPEECH), (2000, SILENCE), (2260, AgentTalks()),
         (2400, Partial("hi this is ana")), (3000, End())],
        [],
    ),
    (
        "... while speech that began after the reply started makes it commit",
        [(1000, SPEECH), (2000, SILENCE), (2260, AgentTalks()), (2700, SttSpeech()),
         (2800, Partial("hi this is ana")), (3400, End())],
        [(2700, PAUSE), (2800, CommitBargeIn(Cause.TRANSCRIPT, 0.0))],
    ),
    (
        "a partial with fewer than min_words words does not commit",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("the")), (1200, SILENCE),
         (2000, End())],
        [(1060, PAUSE), (1500, ResumeAgent(440.0))],
    ),
    (
        "a partial that opens with a stop word commits on its own",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("Wait")), (1200, SILENCE),
         (2000, End())],
        [(1060, PAUSE), (1200, CommitBargeIn(Cause.TRANSCRIPT, 60.0))],
    ),
    (
        "a backchannel partial resumes the agent at once, its final is ignored",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("uh huh")), (1200, SILENCE),
         (1300, Final("Uh-huh. Yeah.")), (2000, End())],
        [(1060, PAUSE), (1200, ResumeAgent(140.0)), (1300, IgnoreBackchannel("Uh-huh. Yeah."))],
    ),
    (
        "speech right after a backchannel goes on with it: no pause, no cut",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("uh huh")), (1300, SILENCE),
         (1700, SPEECH), (2500, SILENCE), (2600, Final("Uh-huh, yeah.")), (3000, End())],
        [(1060, PAUSE), (1200, ResumeAgent(140.0)), (2600, IgnoreBackchannel("Uh-huh, yeah."))],
    ),
    (
        "a backchannel that goes on into words cuts the reply off on them",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("yeah")), (1500, Partial("yeah but")),
         (1800, SILENCE), (2000, End())],
        [(1060, PAUSE), (1200, ResumeAgent(140.0)), (1500, CommitBargeIn(Cause.TRANSCRIPT, None))],
    ),
    (
        "a backchannel with no agent audio is a turn like any other",
        [(1000, SPEECH), (1200, SILENCE), (1500, Final("Yeah.")), (2000, End())],
        [(1500, StartReply("Yeah.", 1.2, 1.5))],
    ),
    (
        "a finished turn commits and starts the reply to it",
        [(0, AgentTalks()), (1000, SPEECH), (1400, SILENCE),
         (1500, Final("What about returns?")), (2000, End())],
        [(1060, PAUSE), (1500, CommitBargeIn(Cause.TURN, 60.0)),
         (1500, StartReply("What about returns?", 1.4, 1.5))],
    ),
    (
        "an empty final is nothing",
        [(0, AgentTalks()), (1000, Final("  ")), (1500, End())],
        [],
    ),
    (
        "DTMF while the agent is audible commits",
        [(0, AgentTalks()), (1000, Dtmf()), (1500, End())],
        [(1000, CommitBargeIn(Cause.DTMF, None))],
    ),
    (
        "DTMF while the agent is paused commits",
        [(0, AgentTalks()), (1000, SPEECH), (1100, Dtmf()), (1100, SILENCE), (2000, End())],
        [(1060, PAUSE), (1100, CommitBargeIn(Cause.DTMF, 60.0))],
    ),
    (
        "DTMF while the agent is silent commits nothing",
        [(0, ReplyStarts()), (1000, Dtmf()), (1500, End())],
        [],
    ),
    (
        "a pause no speech confirms resumes after 0.5 s",
        [(0, AgentTalks()), (2000, SttSpeech()), (3000, End())],
        [(2000, PAUSE), (2520, ResumeAgent(520.0))],
    ),
    (
        "the STT's speech start within 1.5 s of the VAD's is the same speech",
        [(0, AgentTalks()), (1000, SPEECH), (1200, SILENCE), (1600, SttSpeech()),
         (3000, End())],
        [(1060, PAUSE), (1500, ResumeAgent(440.0))],
    ),
    (
        "the STT's speech start later than 1.5 s after the VAD's is new speech",
        [(0, AgentTalks()), (1000, SPEECH), (1200, SILENCE), (2600, SttSpeech()),
         (3500, End())],
        [(1060, PAUSE), (1500, ResumeAgent(440.0)), (2600, PAUSE), (3120, ResumeAgent(520.0))],
    ),
    (
        "the STT's speech start in a run begun before the reply pauses it; 600 ms of "
        "speech after that start commit, not the run's",
        # 200 ms words with 200 ms gaps from 1000 to 3600: one run of the detector
        sorted(
            [*((t, SPEECH if t % 400 == 200 else SILENCE) for t in range(1000, 3800, 200)),
             (1500, AgentTalks()), (2600, SttSpeech()), (4000, End())],
            key=lambda row: row[0],
        ),
        [(2600, PAUSE), (3600, CommitBargeIn(Cause.SPEECH, 0.0))],
    ),
    (
        "speech that began before the reply started does not commit it",
        [(1000, SPEECH), (1500, ReplyStarts()), (3000, SILENCE), (3500, End())],
        [],
    ),
    (
        "speech that began after the reply started commits it before its audio",
        [(500, ReplyStarts()), (1000, SPEECH), (2000, SILENCE), (2500, End())],
        [(1600, CommitBargeIn(Cause.SPEECH, None))],
    ),
    (
        "a reply of the agent's own cuts off the active one",
        [(0, AgentTalks()), (1000, AgentReplies(Cause.NEW_TURN)), (1500, End())],
        [(1000, CommitBargeIn(Cause.NEW_TURN, None))],
    ),
    (
        "a reply of the agent's own with none active cuts off nothing",
        [(1000, AgentReplies(Cause.NOTICE)), (1500, End())],
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("script", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_barge_in(script: Script, expected: Expected) -> None:
    assert run(script) == expected


# With ``room_gate`` the detector's loud frames are the caller's (here the energy detector's;
# a line silent to it stands for voices the model detector took for the room's).
ROOM_ROWS: list[tuple[str, Script, Expected]] = [
    (
        "a turn the detector did not hear from the caller is the room's, not answered",
        [(1500, Final("And in sport, the home team won.")), (2000, End())],
        [(1500, HeardFromRoom("And in sport, the home team won."))],
    ),
    (
        "a turn with the caller's speech is answered",
        [(1000, SPEECH), (1300, SILENCE), (1500, Final("Yes.")), (2000, End())],
        [(1500, StartReply("Yes.", 1.3, 1.5))],
    ),
    (
        "the caller's speech counts for the next turn only",
        [(1000, SPEECH), (1300, SILENCE), (1500, Final("Yes.")), (2500, Final("The news.")),
         (3000, End())],
        [(1500, StartReply("Yes.", 1.3, 1.5)), (2500, HeardFromRoom("The news."))],
    ),
    (
        "the room's turn cuts nothing off",
        [(0, AgentTalks()), (1500, Final("The weather tomorrow.")), (2000, End())],
        [(1500, HeardFromRoom("The weather tomorrow."))],
    ),
    (
        "the STT's speech start pauses nothing: the detector decides",
        [(0, AgentTalks()), (1000, SttSpeech()), (1300, Partial("the council voted")),
         (2000, End())],
        [],
    ),
    (
        "speech too short for the caller's is the room's",
        [(1000, SPEECH), (1100, SILENCE), (1500, Final("Yes.")), (2000, End())],
        [(1500, HeardFromRoom("Yes."))],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"), [r[1:] for r in ROOM_ROWS], ids=[r[0] for r in ROOM_ROWS]
)
def test_room_gate(script: Script, expected: Expected) -> None:
    assert run(script, room_gate=True) == expected


# The caller's loud level known (-18 dBFS; their speech here -20, soft -23): the detector's
# speech counts for the gate only within ROOM_CALLER_DB (6 dB) of it. ROOM_VOICE (-30: 12 dB
# under) is loud to the detector, as the model's runs over a TV or babble are.
SENTENCE, TV = "I'd like the earlier appointment.", "Good evening."
KNOWN_ROWS: list[tuple[str, Script, Expected]] = [
    (
        "the detector's run goes on over the room after the caller's sentence: the room's "
        "turn is not answered, the caller's is",
        [(1000, SPEECH), (1600, ROOM_VOICE), (1700, Final(SENTENCE)), (2600, Final(TV)),
         (3000, End())],
        [(1700, StartReply(SENTENCE, 1.7, 1.7)), (2600, HeardFromRoom(TV))],
    ),
    (
        "the detector starts a run on the room alone in the caller's silence",
        [(1000, SPEECH), (1600, SILENCE), (1700, Final(SENTENCE)), (2400, ROOM_VOICE),
         (2900, SILENCE), (3400, Final(TV)), (3600, End())],
        [(1700, StartReply(SENTENCE, 1.6, 1.7)), (3400, HeardFromRoom(TV))],
    ),
    (
        "the caller's softer speech (5 dB under their level) is theirs",
        [(1000, SOFT_SPEECH), (1400, SILENCE), (1600, Final("Yes.")), (2000, End())],
        [(1600, StartReply("Yes.", 1.4, 1.6))],
    ),
    (
        "the caller's speech over the room is theirs",
        [(1000, ROOM_VOICE), (1400, SPEECH), (1800, ROOM_VOICE), (2000, Final(SENTENCE)),
         (2400, End())],
        [(2000, StartReply(SENTENCE, 2.0, 2.0))],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"), [r[1:] for r in KNOWN_ROWS], ids=[r[0] for r in KNOWN_ROWS]
)
def test_room_gate_with_the_callers_level(script: Script, expected: Expected) -> None:
    assert run(script, room_gate=True, caller_dbfs=-18.0) == expected


def test_without_the_callers_level_every_loud_frame_counts() -> None:
    """Until the detector knows the caller's level (and with the energy one), the room's
    loud frames count as the caller's: the room's turn is answered."""
    script = KNOWN_ROWS[0][1]
    assert run(script, room_gate=True)[-1] == (2600, StartReply(TV, 2.6, 2.6))


def test_the_rooms_voice_after_a_tentative_end_is_not_the_caller_going_on() -> None:
    """The early end forced the caller's turn, then the room's voice (12 dB under their
    level: loud to the detector) went on: that is not the caller going on, so their final,
    whole, is answered when it comes; the room's final is the room's."""
    script: Script = [
        (1000, SPEECH), (1600, SILENCE), (1800, ROOM_VOICE), (1900, Final(SENTENCE)),
        (2800, Final(TV)), (3000, End()),
    ]  # fmt: skip
    early = EarlyTurnEnd(EarlyEndMode.WORDS, 160)
    actions = run(
        script, (StartReply, HeardFromRoom), room_gate=True, caller_dbfs=-18.0, early_end=early
    )
    assert actions == [(1900, StartReply(SENTENCE, 1.9, 1.9)), (2800, HeardFromRoom(TV))]


def test_the_callers_voice_after_a_tentative_end_holds_its_final() -> None:
    """The same with the caller's own voice after the force: they went on, their final is
    held for the next."""
    script: Script = [
        (1000, SPEECH), (1600, SILENCE), (1800, SPEECH), (1900, Final(SENTENCE)),
        (2000, SILENCE), (3000, End()),
    ]  # fmt: skip
    early = EarlyTurnEnd(EarlyEndMode.WORDS, 160)
    actions = run(
        script, (StartReply, HeardFromRoom), room_gate=True, caller_dbfs=-18.0, early_end=early
    )
    assert (1900, StartReply(SENTENCE, 1.9, 1.9)) not in actions


def test_words_held_at_a_tentative_end_are_answered_at_the_rooms_final() -> None:
    """The early end forced the caller's turn and their words read unfinished, so their
    final was held. The room's final is not answered, and not joined to their words: those
    are answered then, on their own."""
    unfinished = "I'd like the earlier"
    script: Script = [
        (1000, SPEECH), (1600, SILENCE), (1800, ROOM_VOICE), (1900, Final(unfinished)),
        (2800, Final(TV)), (3000, End()),
    ]  # fmt: skip
    early = EarlyTurnEnd(EarlyEndMode.WORDS, 160)
    actions = run(
        script, (StartReply, HeardFromRoom), room_gate=True, caller_dbfs=-18.0, early_end=early
    )
    assert actions == [(2800, HeardFromRoom(TV)), (2800, StartReply(unfinished, 2.8, 2.8))]


def forced_at_ms(early: EarlyTurnEnd) -> int:
    """When the early end forces the turn of :func:`split_sentence`'s speech (stream ms)."""
    log = run([(1000, SPEECH), (1600, SILENCE), (2000, End())], (ForceTurnEnd,), early_end=early)
    assert len(log) == 1
    return log[0][0]


def split_sentence(words_end_ms: int, tail_end_ms: int) -> Script:
    """The caller's sentence, forced at its pause and answered tentatively (its words ending
    at ``words_end_ms``), then its tail's final ("please?", too soft for the gate) over the
    reply."""
    return [
        (1000, SPEECH), (1600, SILENCE), (1900, Final(SENTENCE, words_end_ms)),
        (1900, AgentTalks()), (2300, Final("please?", tail_end_ms)), (2500, End()),
    ]  # fmt: skip


def test_the_tail_of_a_split_sentence_is_the_callers_whatever_the_gate_counted() -> None:
    """The words answered reached the forced end (the caller was talking), and the next
    final's words end 300 ms after it: the rest of the sentence, answered as the caller's
    (not recorded as the room's), and the detector does not learn their level from it."""
    early = EarlyTurnEnd(EarlyEndMode.WORDS, 160)
    forced = forced_at_ms(early)
    script = split_sentence(forced, forced + 300)
    actions = run(
        script, (StartReply, HeardFromRoom), room_gate=True, caller_dbfs=-18.0, early_end=early
    )
    assert actions == [
        (1900, StartReply(SENTENCE, 1.6, 1.9)),
        (2300, StartReply("please?", 1.6, 2.3)),
    ]
    assert judgements(script, True, EarlyTurnEnd(EarlyEndMode.WORDS, 160)) == [True, False]


def test_after_a_sentence_finished_before_the_force_the_next_final_is_judged_on_its_own() -> None:
    """The same final after words that ended before the forced end (the TV's "Good evening."
    right after a caller who had finished): the gate's count decides, the room's."""
    early = EarlyTurnEnd(EarlyEndMode.WORDS, 160)
    forced = forced_at_ms(early)
    script = split_sentence(forced - 100, forced + 300)
    actions = run(
        script, (StartReply, HeardFromRoom), room_gate=True, caller_dbfs=-18.0, early_end=early
    )
    assert actions[-1] == (2300, HeardFromRoom("please?"))


def judgements(script: Script, room_gate: bool, early: EarlyTurnEnd | None = None) -> list[bool]:
    """What the machine told the detector of each final (the caller's turn or the room's)."""
    harness = Harness(room_gate=room_gate, caller_dbfs=-18.0, early_end=early)
    for at_ms, what in script:
        harness.play_until(at_ms)
        harness.apply(what)
    detector = harness.turns.vad
    assert isinstance(detector, KnownCaller)
    assert detector.judging is room_gate
    return detector.judged


def test_the_detector_learns_the_callers_level_from_the_turns_answered_as_theirs() -> None:
    """With the room gate, the detector is told which finals were the caller's (answered)
    and which the room's: it learns the caller's level from the former only (a TV talking in
    the caller's silence must not pull it down). A final held for the next is not judged."""
    assert judgements(KNOWN_ROWS[0][1], room_gate=True) == [True, False]
    assert judgements(KNOWN_ROWS[1][1], room_gate=True) == [True, False]
    assert judgements(KNOWN_ROWS[0][1], room_gate=False) == []
    held: Script = [
        (1000, SPEECH), (1600, SILENCE), (1800, ROOM_VOICE), (1900, Final("I'd like the earlier")),
        (2800, Final(TV)), (3000, End()),
    ]  # fmt: skip
    early = EarlyTurnEnd(EarlyEndMode.WORDS, 160)
    # Words held at a tentative end are the caller's by the gate's count: learned from.
    assert judgements(held, room_gate=True, early=early) == [True, False]


UNDUCK = UnduckAgent()

# Ducking after 200 ms: the pause at 1060 (speech from 1000) plays on ducked at 1260
# unless something decided it first.
DUCK_ROWS: list[tuple[str, Script, Expected]] = [
    (
        "an undecided pause plays on ducked after 200 ms; a backchannel partial brings "
        "the reply back to full level",
        [(0, AgentTalks()), (1000, SPEECH), (1400, SILENCE), (1460, Partial("mm-hmm")),
         (1560, Final("Mm-hmm.")), (2000, End())],
        [(1060, PAUSE), (1260, DuckAgent(200.0)), (1460, UNDUCK),
         (1560, IgnoreBackchannel("Mm-hmm."))],
    ),
    (
        "a short burst with no partial yet: ducked, back to full level at the speech's end",
        [(0, AgentTalks()), (1000, SPEECH), (1200, SILENCE), (2000, End())],
        [(1060, PAUSE), (1260, DuckAgent(200.0)), (1500, UNDUCK)],
    ),
    (
        "a \"wait\" over the ducked reply still cuts it",
        [(0, AgentTalks()), (1000, SPEECH), (1300, SILENCE), (1440, Partial("Wait")),
         (2000, End())],
        [(1060, PAUSE), (1260, DuckAgent(200.0)), (1440, CommitBargeIn(Cause.TRANSCRIPT, 60.0))],
    ),
    (
        "a sentence's words over the ducked reply cut it",
        [(0, AgentTalks()), (1000, SPEECH), (1460, Partial("can you")), (1800, SILENCE),
         (2000, End())],
        [(1060, PAUSE), (1260, DuckAgent(200.0)), (1460, CommitBargeIn(Cause.TRANSCRIPT, 60.0))],
    ),
    (
        "speech going on over the ducked reply cuts it at commit_ms",
        [(0, AgentTalks()), (1000, SPEECH), (2000, SILENCE), (2600, End())],
        [(1060, PAUSE), (1260, DuckAgent(200.0)), (1600, CommitBargeIn(Cause.SPEECH, 60.0))],
    ),
    (
        "a partial before 200 ms decides at once: no duck",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("uh huh")), (1200, SILENCE),
         (2000, End())],
        [(1060, PAUSE), (1200, ResumeAgent(140.0))],
    ),
    (
        "... and a stop word cuts at once",
        [(0, AgentTalks()), (1000, SPEECH), (1200, Partial("stop")), (1200, SILENCE),
         (2000, End())],
        [(1060, PAUSE), (1200, CommitBargeIn(Cause.TRANSCRIPT, 60.0))],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"), [r[1:] for r in DUCK_ROWS], ids=[r[0] for r in DUCK_ROWS]
)
def test_ducking(script: Script, expected: Expected) -> None:
    assert run(script, duck_after_ms=200) == expected


@pytest.mark.parametrize("room_gate", [False, True])
def test_a_backchannel_is_silent_at_most_duck_after_ms(room_gate: bool) -> None:
    """Whatever the partial's latency, the reply is silent for the backchannel at most
    the ducking delay, and its words decide the rest: resumed, never cut."""
    for partial_ms in range(1100, 1800, 60):
        script: Script = sorted([
            (0, AgentTalks()), (1000, SPEECH), (1400, SILENCE), (partial_ms, Partial("uh huh")),
            (2400, Final("Uh-huh.")), (3000, End()),
        ], key=lambda step: step[0])  # fmt: skip
        actions = run(script, room_gate=room_gate, duck_after_ms=240)
        assert not any(isinstance(a, CommitBargeIn) for _, a in actions), partial_ms
        paused = next(t for t, a in actions if isinstance(a, PauseAgent))
        back = next(t for t, a in actions if isinstance(a, ResumeAgent | DuckAgent))
        assert back - paused <= 240, (partial_ms, actions)


def test_held_turns_keep_the_end_of_a_duck() -> None:
    """On hold (turns held), nothing speaks, stops or waits; a duck begun before still
    ends, so the reply does not stay soft."""
    actions = (PAUSE, DuckAgent(200.0), UNDUCK, MarkSpeechEnd(), CommitBargeIn(Cause.SPEECH, 60))
    assert without_speech(actions) == (UNDUCK, MarkSpeechEnd())


def test_without_the_room_gate_the_rooms_turn_is_answered() -> None:
    script: Script = [(1500, Final("The news.")), (2000, End())]
    assert run(script) == [(1500, StartReply("The news.", None, 1.5))]


STT_SHAPING = (MarkSpeechEnd, SetSttChunk)
FAST, NORMAL, MARK = SetSttChunk(FAST_CHUNK_MS), SetSttChunk(None), MarkSpeechEnd()
SLOW = SetSttChunk(SLOW_CHUNK_MS)

# The last loud frame arrives at 1200; the first quiet one at 1220. Chunks stay small
# while the caller's last loud frame is less than 1.5 s old.
SHAPING_ROWS: list[tuple[str, Script, Expected]] = [
    (
        "speech end is marked at the loud-to-quiet edge; small chunks for 1.5 s after",
        [(1000, SPEECH), (1200, SILENCE), (3000, End())],
        [(1220, MARK), (1220, FAST), (2700, NORMAL)],
    ),
    (
        "speech resuming inside the window keeps normal chunks while loud",
        [(1000, SPEECH), (1200, SILENCE), (1400, SPEECH), (1600, SILENCE), (3500, End())],
        [(1220, MARK), (1220, FAST), (1420, NORMAL), (1620, MARK), (1620, FAST),
         (3100, NORMAL)],
    ),
    (
        "the STT ends the turn: large chunks once the VAD's hangover is over, until speech",
        [(1000, SPEECH), (1200, SILENCE), (1360, Final("Hello there.")), (2500, SPEECH),
         (2600, End())],
        [(1220, MARK), (1220, FAST), (1500, SLOW), (2520, NORMAL)],
    ),
    (
        "a turn that ended before the caller spoke again does not slow the next one",
        [(1000, SPEECH), (1200, SILENCE), (1360, Final("Hello there.")), (1400, SPEECH),
         (1600, SILENCE), (3500, End())],
        [(1220, MARK), (1220, FAST), (1420, NORMAL), (1620, MARK), (1620, FAST),
         (3100, NORMAL)],
    ),
    (
        "no speech, no shaping",
        [(0, NOISE), (3000, End())],
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"), [r[1:] for r in SHAPING_ROWS], ids=[r[0] for r in SHAPING_ROWS]
)
def test_stt_shaping(script: Script, expected: Expected) -> None:
    assert run(script, watch=STT_SHAPING) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mm-hmm.", True), ("Yeah, okay.", True), ("uh huh", True), ("I see!", True),
        ("", True), ("Right?", True), ("Yes, but where is it?", False),
        ("Stop", False), ("okay wait", False),
    ],
)  # fmt: skip
def test_is_backchannel(text: str, expected: bool) -> None:
    assert is_backchannel(text) is expected


def test_a_quiet_frame_costs_no_allocation() -> None:
    """The per-frame path returns one shared empty tuple when nothing happens."""
    harness = Harness()
    harness.apply(AgentTalks())
    harness.play_until(1000)
    silence = g711.silence_frame("PCMU")
    assert harness.turns.receive_audio(silence, 1.02) is harness.turns.receive_audio(silence, 1.04)


def test_the_machine_imports_no_asyncio() -> None:
    code = (
        "import sys, sipgw.agent.turns.machine; "
        "print(sorted({'asyncio', 'socket'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- preemptive replies

PREEMPTIVE = (StartPreemptive, DropPreemptive, StartReply)
DROP = DropPreemptive()

# Speech from 1000 to 1800 ms: the last loud frame arrives at 1800.
PREEMPTIVE_ROWS: list[tuple[str, Script, Expected]] = [
    (
        "a partial in the pause starts the request once the caller was quiet 200 ms",
        [(1000, SPEECH), (1800, SILENCE), (1900, Partial("where is my order")),
         (2300, Final("Where is my order?")), (2600, End())],
        [(2000, StartPreemptive("where is my order")),
         (2300, StartReply("Where is my order?", 1.8, 2.3))],
    ),
    (
        "a partial after the pause starts it at once",
        [(1000, SPEECH), (1800, SILENCE), (2100, Partial("where is my order")),
         (2300, Final("Where is my order?")), (2600, End())],
        [(2100, StartPreemptive("where is my order")),
         (2300, StartReply("Where is my order?", 1.8, 2.3))],
    ),
    (
        "a partial while the caller still talks starts nothing",
        [(1000, SPEECH), (1400, Partial("where is")), (1800, SILENCE),
         (2300, Final("Where is my order?")), (2600, End())],
        [(2300, StartReply("Where is my order?", 1.8, 2.3))],
    ),
    (
        "the caller talking again drops it; the next pause starts a new one",
        [(1000, SPEECH), (1800, SILENCE), (2000, Partial("where is")), (2200, SPEECH),
         (2600, SILENCE), (2800, Partial("where is my order")), (3200, Final("Where is my order?")),
         (3400, End())],
        [(2000, StartPreemptive("where is")), (2260, DROP),
         (2800, StartPreemptive("where is my order")),
         (3200, StartReply("Where is my order?", 2.6, 3.2))],
    ),
    (
        "the caller talking again within the VAD's hangover drops it all the same",
        [(1000, SPEECH), (1800, SILENCE), (2000, Partial("where is")), (2040, SPEECH),
         (2500, SILENCE), (2700, Partial("where is my order")), (3200, Final("Where is my order?")),
         (3400, End())],
        [(2000, StartPreemptive("where is")), (2100, DROP),
         (2700, StartPreemptive("where is my order")),
         (3200, StartReply("Where is my order?", 2.5, 3.2))],
    ),
    (
        "a partial with other words drops it and starts one on them",
        [(1000, SPEECH), (1800, SILENCE), (2000, Partial("where is")),
         (2100, Partial("where is my order")), (2400, End())],
        [(2000, StartPreemptive("where is")), (2100, DROP),
         (2100, StartPreemptive("where is my order"))],
    ),
    (
        "an empty final drops it",
        [(1000, SPEECH), (1800, SILENCE), (2000, Partial("hm")), (2300, Final("")), (2400, End())],
        [(2000, StartPreemptive("hm")), (2300, DROP)],
    ),
    (
        "nothing starts while the agent is replying",
        [(0, AgentTalks()), (1000, SPEECH), (1040, SILENCE), (2000, Partial("hello")),
         (2400, End())],
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"),
    [pytest.param(script, expected, id=name) for name, script, expected in PREEMPTIVE_ROWS],
)
def test_preemptive(script: Script, expected: Expected) -> None:
    assert run(script, PREEMPTIVE, preemptive_pause_ms=200) == expected


def test_preemptive_is_off_without_a_pause_setting() -> None:
    script: Script = [(1000, SPEECH), (1800, SILENCE), (2000, Partial("where is my order")),
                      (2400, End())]  # fmt: skip
    assert run(script, PREEMPTIVE) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("where is my order 1234", "Where is my order 1234?", True),
        ("my name is  sonny", "My name is Sonny.", True),
        ("it's fine", "It's fine!", True),
        ("where is my order", "Where is my order 1234?", False),
        ("call me back", "Call me, Mack.", False),
    ],
)
def test_same_words(a: str, b: str, same: bool) -> None:
    assert same_words(a, b) is same


def test_the_preemptive_pause_counts_frames_not_tick_jitter() -> None:
    """The partial came after the STT heard 100 ms of silence: the same 5 quiet frames the
    VAD heard, even when the tick carrying the last loud frame was 2 ms late."""
    turns = TurnTaker(FakeAgent(), preemptive_pause_ms=100)
    rng = random.Random(1)
    for i in range(50):  # the VAD learns the line's floor first
        turns.receive_audio(frame_of(SILENCE, i, rng), i * 0.02)
    for i in range(10):  # 200 ms of speech, the last frame's tick 2 ms late
        turns.receive_audio(frame_of(SPEECH, i, rng), 1.0 + i * 0.02 + (0.002 if i == 9 else 0))
    assert turns.last_loud_at == pytest.approx(1.182)
    for i in range(1, 5):
        turns.receive_audio(frame_of(SILENCE, 9 + i, rng), 1.18 + i * 0.02)
    turns.receive_audio(frame_of(SILENCE, 14, rng), 1.28)  # the 5th quiet frame: 100 ms
    # on the clock only 98.3 ms since the last loud frame
    started = turns.receive_stt(SttPartialTranscript("where is my order", 0, 1.2803), 1.2803)
    assert started == (StartPreemptive("where is my order"),)


def test_a_partial_before_the_quiet_frames_add_up_waits_for_them() -> None:
    turns = TurnTaker(FakeAgent(), preemptive_pause_ms=100)
    rng = random.Random(1)
    for i in range(50):  # the VAD learns the line's floor first
        turns.receive_audio(frame_of(SILENCE, i, rng), i * 0.02)
    for i in range(10):
        turns.receive_audio(frame_of(SPEECH, i, rng), 1.0 + i * 0.02)
    assert turns.last_loud_at == pytest.approx(1.18)
    for i in range(1, 5):
        turns.receive_audio(frame_of(SILENCE, 9 + i, rng), 1.18 + i * 0.02)
    # 4 quiet frames (80 ms), though the clock says 100.3 ms since the last loud one
    assert turns.receive_stt(SttPartialTranscript("where is", 0, 1.2803), 1.2803) == ()
    assert turns.receive_audio(frame_of(SILENCE, 14, rng), 1.28) == (StartPreemptive("where is"),)


# --------------------------------------------------------------------------- partials during speech

# Speech from 1000 to 1800 ms again: its last loud frame ends at 1800 in the audio stream
# (the harness's stream and clock are the same), the caller is quiet from the frame at 1820,
# and 100 ms of quiet (the pause) are complete at 1900. Universal-3 Pro's own partial would
# come min_turn_silence (100 ms) plus its latency after 1800: here at 2000.
SPEECH_PARTIAL_ROWS: list[tuple[str, Script, Expected]] = [
    (
        "a partial heard during the last words starts the request after the pause",
        [(1000, SPEECH), (1700, Partial("where is my order", end_ms=1700)), (1800, SILENCE),
         (2000, Partial("where is my order", end_ms=1800)), (2300, Final("Where is my order?")),
         (2600, End())],
        [(1900, StartPreemptive("where is my order", during_speech=True)),
         (2300, StartReply("Where is my order?", 1.8, 2.3))],
    ),
    (
        "one whose last word ends 150 ms before the speech does: its tail",
        [(1000, SPEECH), (1760, Partial("where is my order", end_ms=1650)), (1800, SILENCE),
         (2100, End())],
        [(1900, StartPreemptive("where is my order", during_speech=True))],
    ),
    (
        "one whose words end more than 150 ms before the speech does lacks words",
        [(1000, SPEECH), (1700, Partial("where is my", end_ms=1640)), (1800, SILENCE),
         (2000, Partial("where is my order", end_ms=1800)), (2300, End())],
        [(2000, StartPreemptive("where is my order"))],
    ),
    (
        "one that extends the turn's previous partial is stable",
        [(1000, SPEECH), (1400, Partial("where is", end_ms=1300)),
         (1760, Partial("where is my order", end_ms=1700)), (1800, SILENCE), (2100, End())],
        [(1900, StartPreemptive("where is my order", during_speech=True))],
    ),
    (
        "one that revises the previous partial is not",
        [(1000, SPEECH), (1400, Partial("where is", end_ms=1300)),
         (1760, Partial("where was my order", end_ms=1700)), (1800, SILENCE),
         (2000, Partial("where was my order", end_ms=1800)), (2300, End())],
        [(2000, StartPreemptive("where was my order"))],
    ),
    (
        "a previous partial of another turn does not count",
        [(1000, SPEECH), (1400, Partial("yes", end_ms=1300, turn=0)),
         (1760, Partial("where is my order", end_ms=1700, turn=1)), (1800, SILENCE),
         (2100, End())],
        [(1900, StartPreemptive("where is my order", during_speech=True))],
    ),
    (
        "a newer partial during speech replaces the candidate",
        [(1000, SPEECH), (1300, Partial("where", end_ms=1300)),
         (1700, Partial("where is my order", end_ms=1700)), (1800, SILENCE), (2100, End())],
        [(1900, StartPreemptive("where is my order", during_speech=True))],
    ),
    (
        "one without word timings starts nothing",
        [(1000, SPEECH), (1700, Partial("where is my order")), (1800, SILENCE), (2100, End())],
        [],
    ),
    (
        "the caller going on after the pause drops it",
        [(1000, SPEECH), (1700, Partial("where is", end_ms=1700)), (1800, SILENCE),
         (1960, SPEECH), (2400, SILENCE), (2700, End())],
        [(1900, StartPreemptive("where is", during_speech=True)), (2020, DROP)],
    ),
    (
        "a short gap before more speech starts nothing (the pause is not complete)",
        [(1000, SPEECH), (1700, Partial("where is", end_ms=1700)), (1800, SILENCE),
         (1860, SPEECH), (2400, SILENCE), (2700, End())],
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"),
    [pytest.param(script, expected, id=name) for name, script, expected in SPEECH_PARTIAL_ROWS],
)
def test_partials_during_speech(script: Script, expected: Expected) -> None:
    assert run(script, PREEMPTIVE, preemptive_pause_ms=100, speech_partials=True) == expected


def test_partials_during_speech_are_off_by_default() -> None:
    script, _expected = SPEECH_PARTIAL_ROWS[0][1:]
    assert run(script, PREEMPTIVE, preemptive_pause_ms=100) == [
        (2000, StartPreemptive("where is my order")),
        (2300, StartReply("Where is my order?", 1.8, 2.3)),
    ]  # fmt: skip


def test_frames_that_skip_the_machine_still_move_the_audio_stream() -> None:
    """While the caller holds the call the STT gets silence the machine never sees; a
    partial's word timings count that audio too."""

    def started(end_ms: int) -> bool:
        turns = TurnTaker(FakeAgent(), preemptive_pause_ms=100, speech_partials=True)
        rng = random.Random(1)
        for i in range(50):  # the VAD learns the line's floor first: stream 0-1000 ms
            turns.receive_audio(frame_of(SILENCE, i, rng), i * 0.02)
        for _ in range(100):  # on hold: 2 s of silence to the STT (1000-3000 ms)
            turns.skip_audio()
        for i in range(20):  # speech: 3000-3400 ms of the stream
            turns.receive_audio(frame_of(SPEECH, i, rng), 3.0 + i * 0.02)
        partial = SttPartialTranscript("where is my order", 0, 3.4, audio_end_ms=end_ms)
        assert turns.receive_stt(partial, 3.4) == ()
        quiet = [turns.receive_audio(frame_of(SILENCE, i, rng), 3.42 + i / 50) for i in range(5)]
        return quiet[-1] == (StartPreemptive("where is my order", during_speech=True),)

    assert started(3380)  # the speech's last words
    assert not started(3100)  # its first words: the rest is missing
    assert not started(1380)  # had the skipped frames not counted, this had been "the end"


def test_an_agent_that_stopped_on_its_own_has_no_barge_in_pending() -> None:
    """The agent's opening started over (it stopped for a callee who went on after a
    pause: agent/assistant/answering.py): the pause under way is over. Their speech ending resumes
    nothing, and their partial, while the agent is quiet, commits nothing."""
    harness = Harness()
    harness.play_until(900)
    harness.apply(AgentTalks())
    harness.play_until(1000)
    harness.apply(SPEECH)
    harness.play_until(1100)
    assert harness.log[-1][1] == PAUSE and harness.turns.paused_at is not None
    harness.turns.agent_stopped()
    assert harness.turns.paused_at is None
    harness.agent.playing = harness.agent.paused = False  # held, back at its start
    harness.play_until(1400)
    harness.apply(Partial("this is ana"))
    harness.apply(SILENCE)
    harness.play_until(2400)
    barge_in = [action for _, action in harness.log if isinstance(action, BARGE_IN)]
    assert barge_in == [PAUSE], harness.log


def test_the_talk_tally_hears_the_callers_speech_from_its_onset_to_its_last_loud_frame() -> None:
    """Who talks when (sipgw.agent.talk): the VAD's start is known 60 ms into the speech and
    its end 300 ms after it; the tally gets the onset and the last loud frame."""
    harness = Harness()
    harness.turns.talk = tally = TalkTally()
    tally.answered(0.0)
    for at_ms, what in [(1000, SPEECH), (1800, SILENCE), (2400, SPEECH), (2600, SILENCE)]:
        harness.play_until(at_ms)
        harness.apply(what)
    harness.play_until(3200)
    figures = tally.figures(3.2)
    assert figures is not None
    assert figures.caller_talk_s == 0.8 + 0.2  # 1.02-1.82 and 2.42-2.62 (frames end at arrival)


def test_the_echo_found_late_makes_the_turn_it_started_no_reply() -> None:
    """The echo guard found the line's echo after the agent's own voice had started speech:
    the final that speech brings is heard, not answered, and its partials cut nothing."""
    agent = FakeAgent()
    agent.playing = True
    agent.reply_started_at = 0.0
    turns = TurnTaker(agent, vad=VadConfig(start_ms=60, hangover_ms=300, calibration_ms=0))
    loud = b"\x10" * 160  # -10 dBFS or so
    now = 0.0
    for _ in range(25):  # the line's floor first
        now += 0.02
        turns.receive_audio(b"\xff" * 160, now)
    actions: list[TurnAction] = []
    for _ in range(10):
        now += 0.02
        actions += turns.receive_audio(loud, now)
    assert any(isinstance(a, PauseAgent) for a in actions)  # the echo paused the agent
    turns.echo_heard()
    assert not any(
        isinstance(a, CommitBargeIn)
        for a in turns.receive_stt(SttPartialTranscript("hi there thanks", 1, now), now)
    )
    ended = turns.receive_stt(SttTurnEnded("Hi there, thanks.", 1, (), now, None), now)
    assert HeardFromRoom("Hi there, thanks.") in ended
    assert not any(isinstance(a, StartReply | CommitBargeIn) for a in ended)
