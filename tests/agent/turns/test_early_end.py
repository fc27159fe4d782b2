"""Early ends of turn (agent/turns/early_end.py) alone and inside the turn-taking machine, on an
injected clock: frame n arrives at n x 20 ms, real μ-law through the real detector."""

from __future__ import annotations

import pytest

from sipgw.agent.services.stt.base import SttPartialTranscript, SttTurnEnded
from sipgw.agent.turns.early_end import (
    SERVICE_MIN_TURN_SILENCE_MS,
    EarlyEndMode,
    EarlyTurnEnd,
    early_turn_end,
    sentence_open,
)
from sipgw.agent.turns.machine import (
    AWAIT_FINAL_MS,
    AWAITED_SPEECH_MS,
    HELD_TURN_MS,
    Cause,
    CommitBargeIn,
    DuckAgent,
    ForceTurnEnd,
    PauseAgent,
    ResumeAgent,
    StartReply,
    TurnAction,
    TurnTaker,
)
from sipgw.agent.turns.text import AfterAgent
from sipgw.app.evaluation.audio import encode, tone_frame
from sipgw.media import g711
from sipgw.media.voice.turn_model import AUDIO_FEATURES, TEXT_FEATURES, TurnModel
from sipgw.media.voice.vad import FRAME_MS
from tests.media.voice.test_turn_model import contour, voiced

SPEECH = tone_frame(300, -20)
QUIET = g711.silence_frame("PCMU")


class Agent:
    audible = False
    pending = False

    def active_reply_started_at(self) -> float | None:
        return None


class Call:
    """One caller and the machine, frame by frame on the injected clock."""

    def __init__(
        self, mode: EarlyEndMode, silence_ms: int = 200, model: TurnModel | None = None,
        verdict_after_ms: int = SERVICE_MIN_TURN_SILENCE_MS, early: EarlyTurnEnd | None = None,
    ) -> None:  # fmt: skip
        self.early = early or EarlyTurnEnd(
            mode, silence_ms, model, verdict_after_ms=verdict_after_ms
        )
        self.turns = TurnTaker(Agent(), early_end=self.early)
        self.frames = 0
        self.forced_at: list[int] = []  # ms of the frames that said ForceTurnEnd

    @property
    def now(self) -> float:
        return self.frames * 0.020

    def play(self, frame: bytes, ms: int) -> None:
        self.say([frame] * (ms // 20))

    def say(self, frames: list[bytes]) -> None:
        for frame in frames:
            actions = self.turns.receive_audio(frame, self.now)
            self._note(actions)
            self.frames += 1

    def stt(self, event: SttPartialTranscript | SttTurnEnded) -> tuple[TurnAction, ...]:
        actions = self.turns.receive_stt(event, self.now)
        self._note(actions)
        return actions

    def _note(self, actions: tuple[TurnAction, ...]) -> None:
        if any(isinstance(a, ForceTurnEnd) for a in actions):
            self.forced_at.append(self.frames * 20)


def partial(text: str, at: float = 0.0) -> SttPartialTranscript:
    return SttPartialTranscript(text, 0, at)


def final(text: str, at: float = 0.0) -> SttTurnEnded:
    return SttTurnEnded(text, 0, (), at, None)


@pytest.mark.parametrize(
    ("text", "open_"),
    [
        ("I'd like a table for", True),
        ("so, um", True),
        ("my number is,", True),
        ("and then I —", True),
        ("I'd like a table for two.", False),
        ("Is it open?", False),
        ("tomorrow at eight", False),
        ("", False),
    ],
)
def test_sentence_open(text: str, open_: bool) -> None:
    assert sentence_open(text) is open_


def test_vad_mode_ends_the_turn_once_after_the_silence() -> None:
    call = Call(EarlyEndMode.VAD)
    call.play(QUIET, 400)  # the detector's calibration and noise floor
    call.play(SPEECH, 600)
    call.play(QUIET, 600)
    # the 10th quiet frame (200 ms) after the last loud one, at 1000 ms: frame 59
    assert call.forced_at == [1000 + 200 - 20]


def test_a_shorter_pause_asks_nothing_and_the_caller_goes_on() -> None:
    call = Call(EarlyEndMode.VAD, silence_ms=300)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 200)  # a pause shorter than 300 ms
    call.play(SPEECH, 400)
    call.play(QUIET, 400)
    assert call.forced_at == [1600 + 300 - 20]


def test_off_never_asks() -> None:
    call = Call(EarlyEndMode.OFF)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 1000)
    assert call.forced_at == []


def test_no_speech_no_turn_to_end() -> None:
    """Quiet from the start (and a click too short to be speech) ends nothing."""
    call = Call(EarlyEndMode.VAD)
    call.play(QUIET, 400)
    call.play(SPEECH, 40)  # under the detector's 60 ms start
    call.play(QUIET, 1000)
    assert call.forced_at == []


def test_text_mode_waits_on_an_open_sentence_and_ends_a_complete_one() -> None:
    call = Call(EarlyEndMode.VAD_TEXT)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.stt(partial("I'd like a table for"))
    call.play(QUIET, 500)  # the caller thinks: the STT decides (nothing asked)
    assert call.forced_at == []
    call.play(SPEECH, 400)
    call.stt(partial("I'd like a table for two people"))
    call.play(QUIET, 400)
    assert call.forced_at == [1500 + 400 + 200 - 20]


def test_text_mode_without_a_partial_ends_as_vad() -> None:
    call = Call(EarlyEndMode.VAD_TEXT)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 400)
    assert call.forced_at == [1000 + 200 - 20]


def test_a_turn_ended_by_the_stt_clears_its_words_and_disarms() -> None:
    """The STT's final (its own end, or the forced one) ends the turn: the next quiet
    spell asks nothing until the caller speaks again, and the old partial is forgotten."""
    call = Call(EarlyEndMode.VAD_TEXT)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.stt(partial("and so"))
    call.play(QUIET, 100)
    call.stt(final("And so."))
    call.play(QUIET, 600)
    assert call.forced_at == []
    call.play(SPEECH, 400)  # a new turn: no partial yet
    call.play(QUIET, 300)
    assert call.forced_at == [1700 + 400 + 200 - 20]


def test_a_late_final_while_the_caller_goes_on_keeps_the_new_speech_a_turn() -> None:
    """A forced end's final arrives a model latency late, when the caller already spoke
    again: the new speech still ends early at its own pause."""
    call = Call(EarlyEndMode.VAD)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 300)  # forced at 1180
    call.play(SPEECH, 200)
    call.stt(final("I'd like"))  # while they talk
    call.play(SPEECH, 200)
    call.play(QUIET, 300)
    assert call.forced_at == [1180, 1700 + 200 - 20]


def test_text_mode_takes_a_partial_of_the_silence_as_the_services_verdict() -> None:
    """A partial that comes while the caller is quiet (Universal-3 Pro's, after its
    min_turn_silence) is the service saying the words end no sentence: no early end, even
    on words that could close one; a punctuated one ends the turn."""
    call = Call(EarlyEndMode.VAD_TEXT)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 100)
    call.stt(partial("the package arrived yesterday"))
    call.play(QUIET, 400)
    assert call.forced_at == []
    call.play(SPEECH, 400)
    call.play(QUIET, 100)
    call.stt(partial("but the box was damaged."))
    call.play(QUIET, 300)
    assert call.forced_at == [1500 + 400 + 200 - 20]


def test_off_builds_no_policy_so_the_frames_skip_it() -> None:
    assert early_turn_end(EarlyEndMode.OFF, 200) is None
    policy = early_turn_end(EarlyEndMode.VAD_TEXT, 250)
    assert policy is not None
    assert (policy.mode, policy.silence_ms) == (EarlyEndMode.VAD_TEXT, 240)  # whole frames


def model_of(
    final_pitch: float, preposition: float = 0.0, waits: list[list[float]] | None = None
) -> TurnModel:
    """A turn model whose cues are the final pitch against the median (``final_pitch`` per
    3 semitones: negative, a fall is finished) and, with words, a last word that is a
    preposition; ``waits``: its graded wait ([ms, probability] pairs; None: at once over
    0.5)."""
    n, t = len(AUDIO_FEATURES), len(TEXT_FEATURES)
    weights = [0.0] * n
    weights[AUDIO_FEATURES.index("final_pitch")] = final_pitch
    text = [0.0] * t
    text[TEXT_FEATURES.index("preposition")] = preposition
    audio = {"mean": [0.0] * n, "scale": [3.0] * n, "weights": weights, "bias": 0.0,
             "threshold": 0.5}  # fmt: skip
    both = {"mean": [0.0] * (n + t), "scale": [3.0] * n + [1.0] * t,
            "weights": [*weights, *text], "bias": 0.0, "threshold": 0.5}  # fmt: skip
    if waits is not None:
        audio["waits"] = both["waits"] = waits
    return TurnModel.parse({"audio_features": list(AUDIO_FEATURES),
                            "text_features": list(TEXT_FEATURES),
                            "audio": audio, "audio+text": both})  # fmt: skip


def speech(end_hz: float, seconds: float = 1.4) -> list[bytes]:
    """A voice at 140 Hz gliding to ``end_hz`` over its last 400 ms, in μ-law frames."""
    ulaw = encode(voiced(contour(end_hz, seconds)))
    return [ulaw[i : i + 160] for i in range(0, len(ulaw) // 160 * 160, 160)]


FALLS = model_of(-1.0, preposition=-10.0)


@pytest.mark.parametrize(("end_hz", "forced"), [(95.0, True), (190.0, False)])
def test_model_mode_ends_a_finished_turn_and_waits_on_an_unfinished_one(
    end_hz: float, forced: bool
) -> None:
    call = Call(EarlyEndMode.MODEL, model=FALLS)
    call.play(QUIET, 400)
    call.say(speech(end_hz))
    call.play(QUIET, 600)
    # on the 10th quiet frame after the voice (400 + 1400 ms), or never in this quiet spell
    assert call.forced_at == ([400 + 1400 + 200 - 20] if forced else [])
    probability = call.early.last_probability
    assert probability is not None and (probability > 0.5) is forced


def test_model_mode_weighs_the_partials_words() -> None:
    """The same falling voice: "... a table for" holds the turn, "... for two" ends it."""
    call = Call(EarlyEndMode.MODEL, model=FALLS)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.stt(partial("I'd like a table for"))
    call.play(QUIET, 400)
    assert call.forced_at == []
    call.say(speech(95.0))
    call.stt(partial("I'd like a table for two people"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 1400 + 400 + 1400 + 200 - 20]


def test_model_mode_asks_once_a_quiet_spell_and_again_after_speech() -> None:
    call = Call(EarlyEndMode.MODEL, model=FALLS)
    call.play(QUIET, 400)
    call.say(speech(190.0))  # "not yet": the service or the next speech decides
    call.play(QUIET, 2000)
    assert call.forced_at == []
    call.say(speech(95.0))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 1400 + 2000 + 1400 + 200 - 20]


def test_model_mode_asks_nothing_without_speech() -> None:
    call = Call(EarlyEndMode.MODEL, model=model_of(-1.0))
    call.play(QUIET, 400)
    call.play(SPEECH, 40)  # under the detector's 60 ms start
    call.play(QUIET, 1000)
    assert call.forced_at == [] and call.early.last_probability is None


def test_model_mode_with_the_shipped_weights_decides_and_keeps_to_its_tail() -> None:
    call = Call(EarlyEndMode.MODEL)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.play(QUIET, 400)
    probability = call.early.last_probability
    assert probability is not None and 0.0 <= probability <= 1.0
    assert call.forced_at in ([], [400 + 1400 + 200 - 20])


def test_model_mode_takes_a_partial_of_the_silence_as_the_services_verdict() -> None:
    """A falling voice the model calls finished, but the service's partial of the silence
    ends no sentence: nothing is asked (and the model is not run); a punctuated one is
    left to the model, which ends the turn."""
    call = Call(EarlyEndMode.MODEL, model=FALLS)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.play(QUIET, 100)
    call.stt(partial("i was charged twice"))
    call.play(QUIET, 400)
    assert call.forced_at == [] and call.early.last_probability is None
    call.say(speech(95.0))
    call.play(QUIET, 100)
    call.stt(partial("for the same delivery."))
    call.play(QUIET, 300)
    assert call.forced_at == [400 + 1400 + 500 + 1400 + 200 - 20]


GRADED = model_of(-1.0, preposition=-10.0, waits=[[200, 0.9], [400, 0.7], [700, 0.5]])
"""The falling voice ends a turn after 400 ms (its probability is in 0.7-0.9), a level
one after 700 ms (0.5-0.7), a rising one never."""


@pytest.mark.parametrize(("end_hz", "wait_ms"), [(95.0, 400), (130.0, 700), (190.0, None)])
def test_the_graded_wait_ends_a_turn_after_the_pause_its_probability_sets(
    end_hz: float, wait_ms: int | None
) -> None:
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(end_hz))
    call.play(QUIET, 1000)
    assert call.early.last_wait_ms == wait_ms
    assert call.forced_at == ([] if wait_ms is None else [400 + 1400 + wait_ms - 20])


@pytest.mark.parametrize(
    ("end_hz", "bar", "ended"),
    [(95.0, 0.6, True), (95.0, 0.95, False), (130.0, 0.5, True), (130.0, 0.8, False),
     (190.0, 0.0, True)],
)  # fmt: skip
def test_a_bar_ends_the_turn_at_the_decision_when_the_model_is_that_sure(
    end_hz: float, bar: float, ended: bool
) -> None:
    """ConversationRelay's ``eotThreshold``: over the bar at once (the decision's frame, after
    the silence), under it never (the service's own end decides), the graded wait aside."""
    early = EarlyTurnEnd(EarlyEndMode.MODEL, 200, GRADED, bar=bar)
    call = Call(EarlyEndMode.MODEL, early=early)
    call.play(QUIET, 400)
    call.say(speech(end_hz))
    call.play(QUIET, 1000)
    assert call.forced_at == ([400 + 1400 + 200 - 20] if ended else [])


def test_speech_within_the_graded_wait_ends_nothing_and_asks_again() -> None:
    """A pause shorter than its wait is a pause: the caller goes on, the turn goes on; the
    next pause is judged anew."""
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.play(QUIET, 300)  # under its 400 ms
    assert call.early.last_wait_ms == 400
    call.early.last_probability = None
    call.play(SPEECH, 400)
    call.play(QUIET, 1000)
    assert 400 + 1400 + 400 - 20 not in call.forced_at
    assert call.early.last_probability is not None  # asked again in the new quiet spell


def test_a_partial_of_the_silence_within_the_graded_wait_is_the_services_verdict() -> None:
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(130.0))  # a wait of 700 ms
    call.play(QUIET, 400)
    call.stt(partial("i was charged twice"))  # the service heard 400 ms and goes on
    call.play(QUIET, 600)
    assert call.forced_at == []
    assert call.early.last_wait_ms == 700


def test_the_services_end_within_the_graded_wait_leaves_nothing_to_force() -> None:
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(130.0))
    call.play(QUIET, 400)
    call.stt(final("I was charged twice."))
    call.play(QUIET, 600)
    assert call.forced_at == []


def test_a_late_finished_partial_ends_the_turn_at_once_when_its_wait_is_over() -> None:
    """The words at the pause's decision hold the turn ("... a table for": left to the
    service); the service's partial 500 ms into the quiet ends a sentence: asked again,
    the same audio with the new words waits 400 ms from the pause's start, already over."""
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.stt(partial("I'd like a table for"))  # heard during the speech
    call.play(QUIET, 500)
    assert call.early.last_wait_ms is None and call.forced_at == []
    actions = call.stt(partial("I'd like a table for two."))
    assert any(isinstance(a, ForceTurnEnd) for a in actions)
    assert call.early.last_wait_ms == 400
    assert call.forced_at == [400 + 1400 + 500]
    call.play(QUIET, 1000)
    assert call.forced_at == [400 + 1400 + 500]  # once


def test_a_late_finished_partial_within_its_wait_ends_the_turn_when_the_wait_is_over() -> None:
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.stt(partial("I'd like a table for"))
    call.play(QUIET, 260)
    assert call.stt(partial("I'd like a table for two.")) == ()
    call.play(QUIET, 1000)
    assert call.forced_at == [400 + 1400 + 400 - 20]  # the 20th quiet frame


def test_a_late_partial_that_looks_unfinished_leaves_the_turn_to_the_service() -> None:
    """The falling voice alone would end the turn after 400 ms; a partial at 300 ms whose
    words go on (the model reads its last word, a preposition, whatever its full stop)
    takes the wait back; one without a sentence end is the service's own verdict."""
    for text in ("I'd like a table for.", "i'd like a table for two"):
        call = Call(EarlyEndMode.MODEL, model=GRADED)
        call.play(QUIET, 400)
        call.say(speech(95.0))
        call.play(QUIET, 300)
        assert call.early.last_wait_ms == 400
        assert call.stt(partial(text)) == ()
        call.play(QUIET, 1000)
        assert call.forced_at == [], text


def test_speech_after_a_late_partial_cancels_its_wait() -> None:
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.stt(partial("I'd like a table for"))
    call.play(QUIET, 260)
    call.stt(partial("I'd like a table for two."))  # a wait of 400 ms: 140 ms to go
    call.play(SPEECH, 200)  # the caller goes on
    call.early.last_probability = None
    call.stt(partial("I'd like a table for two people."))  # during speech: nothing asked
    assert call.early.last_probability is None
    call.play(QUIET, 60)  # under the 200 ms decision
    assert call.forced_at == []


def test_a_partial_after_the_forced_end_asks_nothing() -> None:
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.play(QUIET, 600)
    assert call.forced_at == [400 + 1400 + 400 - 20]
    call.early.last_probability = None
    assert call.stt(partial("I'd like a table for two.")) == ()
    assert call.early.last_probability is None


def test_the_shipped_weights_grade_their_wait() -> None:
    """Longer waits take lower probabilities; every wait is at or after the decision."""
    from sipgw.media.voice.turn_model import default_model

    model = default_model()
    for weights in (model.audio, model.audio_text):
        assert weights.waits, "the shipped weights carry a graded wait"
        cuts = [cut for _, cut in weights.waits]
        assert cuts == sorted(cuts, reverse=True)
        assert all(ms >= 200 for ms, _ in weights.waits)
        assert weights.wait_ms(1.0) == weights.waits[0][0]
        assert weights.wait_ms(0.0) is None


# --------------------------------------------------------------------------- words: tentative ends


class Replying(Agent):
    """An agent whose reply to the latest turn is being generated (not audible yet)."""

    def __init__(self) -> None:
        self.started: float | None = None

    def active_reply_started_at(self) -> float | None:
        return self.started


class Tentative(Call):
    def __init__(
        self, said: str = "", verdict_after_ms: int = SERVICE_MIN_TURN_SILENCE_MS,
        early: EarlyTurnEnd | None = None,
    ) -> None:  # fmt: skip
        super().__init__(EarlyEndMode.WORDS, verdict_after_ms=verdict_after_ms, early=early)
        self.agent = Replying()
        self.said = said  # what the agent said last
        self.turns = TurnTaker(
            self.agent, early_end=self.early, words=AfterAgent(lambda: self.said)
        )
        self.actions: list[TurnAction] = []
        self.play(QUIET, 400)  # the detector's calibration and noise floor

    def _note(self, actions: tuple[TurnAction, ...]) -> None:
        super()._note(actions)
        self.actions += actions
        if any(isinstance(a, StartReply) for a in actions):
            self.agent.started = self.now

    def replies(self) -> list[str]:
        return [a.text for a in self.actions if isinstance(a, StartReply)]


def test_words_forces_the_end_after_the_silence() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 600 + 200 - 20]


def test_words_a_finished_final_is_answered() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I'd like to book a table for two people tomorrow night."))
    assert call.replies() == ["I'd like to book a table for two people tomorrow night."]


def test_words_an_unfinished_final_is_held_and_joined_to_the_next() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I'd like to book a table for"))
    assert call.replies() == []
    call.play(QUIET, 200)
    call.play(SPEECH, 800)
    call.play(QUIET, 320)
    assert call.forced_at == [1180, 400 + 600 + 520 + 800 + 200 - 20]
    call.stt(final("two people tomorrow night."))
    assert call.replies() == ["I'd like to book a table for two people tomorrow night."]


def test_words_held_words_are_answered_after_the_hold_without_more_speech() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("My order number is"))
    call.play(QUIET, HELD_TURN_MS - 320 - 20)
    assert call.replies() == []
    call.play(QUIET, 40)
    assert call.replies() == ["My order number is"]


def test_words_a_final_after_the_caller_went_on_is_held_whatever_its_words() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 300)
    call.play(SPEECH, 100)  # back before the forced end's final came
    call.stt(final("I was charged twice for the same delivery."))
    assert call.replies() == []


def test_words_a_reply_the_caller_talks_over_is_paused_then_cut_off() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice for the same delivery."))
    assert call.replies() and not any(isinstance(a, PauseAgent) for a in call.actions)
    call.play(QUIET, 200)
    call.play(SPEECH, 20)  # one loud frame: paused, though nothing is audible yet
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1
    call.play(SPEECH, 700)
    assert any(isinstance(a, CommitBargeIn) for a in call.actions)


def test_words_the_service_saying_open_forces_nothing() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 100)
    call.stt(partial("i'd like to book a table for"))
    call.play(QUIET, 400)
    assert call.forced_at == []


def test_other_modes_answer_a_forced_final_whatever_its_words() -> None:
    call = Call(EarlyEndMode.VAD)
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    actions = call.stt(final("I'd like to book a table for"))
    assert [a.text for a in actions if isinstance(a, StartReply)] == [
        "I'd like to book a table for"
    ]


@pytest.mark.parametrize(
    ("said", "answer"),
    [("Thanks. What's your first name?", "Tomasz."), ("How many people will be joining?", "Two.")],
)
def test_words_a_short_answer_to_the_agents_question_is_answered_at_once(
    said: str, answer: str
) -> None:
    call = Tentative(said)
    call.play(SPEECH, 400)
    call.play(QUIET, 320)
    call.stt(final(answer))
    assert call.replies() == [answer]


def test_words_a_yes_no_answer_after_no_question_waits_for_the_hold() -> None:
    call = Tentative("Your order has shipped.")
    call.play(SPEECH, 400)
    call.play(QUIET, 320)
    call.stt(final("Yes I did."))  # after "Did you get the code?" it answers
    assert call.replies() == []
    call.play(QUIET, HELD_TURN_MS)
    assert call.replies() == ["Yes I did."]


@pytest.mark.parametrize("answer", ["Sarah.", "Berlin.", "Two.", "It's Maria."])
def test_words_a_name_place_or_number_after_no_question_is_answered_at_once(answer: str) -> None:
    """After a line that asks nothing ("Your order has shipped.") or an open question: a
    bare short answer is whole (:func:`~sipgw.agent.turns.question.bare_answer`)."""
    for said in ("Your order has shipped.", "How can I help you?"):
        call = Tentative(said)
        call.play(SPEECH, 400)
        call.play(QUIET, 320)
        call.stt(final(answer))
        assert call.replies() == [answer], said


def test_words_what_the_agent_said_is_read_when_the_final_comes() -> None:
    call = Tentative("Your order has shipped.")
    call.play(SPEECH, 400)
    call.said = "What's the six digit code we sent you?"  # its next line, heard since
    call.play(QUIET, 320)
    call.stt(final("It's four two"))  # two digits of six: the caller goes on
    assert call.replies() == []
    call.play(QUIET, 200)
    call.play(SPEECH, 800)
    call.play(QUIET, 320)
    call.stt(final("seven one nine three."))
    assert call.replies() == ["It's four two seven one nine three."]


def test_words_held_words_answered_alone_are_still_tentative() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("My order number is"))
    call.play(QUIET, HELD_TURN_MS)
    assert call.replies() == ["My order number is"]
    call.play(SPEECH, 60)  # the caller goes on after all: the reply waits
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1


def test_words_a_sound_that_was_no_speech_lets_the_reply_play() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice for the same delivery."))
    call.play(SPEECH, 20)  # a click
    call.play(QUIET, 600)
    assert [type(a) for a in call.actions if isinstance(a, PauseAgent | ResumeAgent)] == [
        PauseAgent, ResumeAgent,
    ]  # fmt: skip


def test_a_reply_once_heard_is_paused_by_speech_only() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice for the same delivery."))
    call.agent.audible = True  # its audio plays: one loud frame may be its echo
    call.play(SPEECH, 20)
    assert not any(isinstance(a, PauseAgent) for a in call.actions)


def test_a_soft_onset_holds_a_reply_not_heard_yet() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice."))
    assert call.replies()
    call.play(tone_frame(300, -46), 20)  # the soft "f" of the next word: under -40 dBFS
    assert call.turns.vad.loud is False
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1


def test_a_soft_sound_leaves_a_reply_once_heard_alone() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice."))
    call.agent.audible = True
    call.play(tone_frame(300, -46), 40)
    assert not any(isinstance(a, PauseAgent) for a in call.actions)


def test_a_sound_under_the_soft_onsets_level_holds_nothing() -> None:
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice."))
    call.play(tone_frame(300, -56), 60)  # line hiss, a breath far off
    assert not any(isinstance(a, PauseAgent) for a in call.actions)


def _replied_in_the_hangover() -> Tentative:
    """A reply to a tentative end that starts while the detector's run over the turn it
    answers is still in its hangover (300 ms): the run began before the reply."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 240)  # the forced end at 200 ms, its final 40 ms later
    call.stt(final("I was charged twice for the same delivery."))
    assert call.replies() and call.turns.vad.speaking
    return call


def cuts(call: Tentative) -> list[CommitBargeIn]:
    return [a for a in call.actions if isinstance(a, CommitBargeIn)]


def test_a_pause_in_the_answered_turns_run_counts_the_speech_after_its_onset() -> None:
    """The pause on the caller going on comes within the detector's run over the turn the
    reply answers: that run's 600 ms are not the speech paused; 600 ms of new speech are."""
    call = _replied_in_the_hangover()
    call.play(SPEECH, 20)  # the caller goes on: paused at once
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1
    assert call.turns.vad.speech_ms == 620  # one run, begun before the reply
    call.play(SPEECH, 560)  # 580 ms since the pause's onset
    assert cuts(call) == []
    call.play(SPEECH, 20)  # 600 ms: the caller really goes on
    assert [c.cause for c in cuts(call)] == [Cause.SPEECH]
    assert cuts(call)[0].reaction_ms == FRAME_MS  # paused on the first loud frame


def test_a_soft_frame_in_the_answered_turns_run_cuts_nothing() -> None:
    """A background frame over the soft onset's level pauses the reply not heard yet; the
    quiet that follows ends the run, and the reply plays: the run's speech, all of it
    before the reply, cuts nothing."""
    call = _replied_in_the_hangover()
    call.play(tone_frame(300, -46), 20)
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1
    call.play(QUIET, 200)
    assert cuts(call) == []
    assert any(isinstance(a, ResumeAgent) for a in call.actions)


def test_a_soft_onset_then_the_caller_going_on_cuts_after_600_ms_of_speech() -> None:
    call = _replied_in_the_hangover()
    call.play(tone_frame(300, -46), 20)  # the soft "f" of the next word
    call.play(SPEECH, 580)
    assert cuts(call) == []
    call.play(SPEECH, 20)
    assert [c.cause for c in cuts(call)] == [Cause.SPEECH]


def resumes(call: Tentative) -> list[ResumeAgent]:
    return [a for a in call.actions if isinstance(a, ResumeAgent)]


def _went_on_in_the_hangover(speech_ms: int) -> Tentative:
    """A reply to a tentative end, not heard yet, paused by ``speech_ms`` of the caller's
    speech within the hangover of the turn it answers ("my order number is four five" |
    "six seven"), then 340 ms of quiet: the detector's run ends at 300 ms, the forced end
    at 200 ms, its final not here yet."""
    call = _replied_in_the_hangover()
    call.play(SPEECH, speech_ms)
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1
    call.play(QUIET, 340)
    assert not call.turns.vad.speaking  # the speech's end
    assert call.forced_at[-1] == call.frames * 20 - 140 - 20
    return call


def test_words_after_the_pause_keep_the_reply_paused_until_their_final() -> None:
    """The caller's words since the pause are awaited past the speech's end: the reply to
    half of them is never heard, their final's reply replaces it."""
    call = _went_on_in_the_hangover(300)
    assert resumes(call) == [] and cuts(call) == []
    assert call.turns.paused_at is not None
    call.stt(final("And I would like a refund for it."))
    assert [(c.cause, c.reaction_ms) for c in cuts(call)] == [(Cause.TURN, FRAME_MS)]
    assert call.replies()[-1] == "And I would like a refund for it."
    assert resumes(call) == []


def test_a_cough_after_the_pause_resumes_the_reply_at_its_end() -> None:
    """A sound shorter than AWAITED_SPEECH_MS is no words: the speech's end resumes."""
    assert AWAITED_SPEECH_MS > 120
    call = _replied_in_the_hangover()
    call.play(SPEECH, 120)
    call.play(QUIET, 300)
    assert len(resumes(call)) == 1 and cuts(call) == []
    assert call.turns.paused_at is None


def test_words_after_the_pause_of_words_length_are_awaited() -> None:
    call = _replied_in_the_hangover()
    call.play(SPEECH, AWAITED_SPEECH_MS)
    call.play(QUIET, 300)
    assert resumes(call) == [] and call.turns.paused_at is not None


def test_an_awaited_final_that_adds_nothing_resumes_the_reply() -> None:
    call = _went_on_in_the_hangover(300)
    assert resumes(call) == []  # a cough of a word's length, or words not heard
    call.stt(final(""))
    assert len(resumes(call)) == 1 and cuts(call) == []
    assert call.replies() == ["I was charged twice for the same delivery."]


def test_an_awaited_final_of_held_words_cuts_the_reply() -> None:
    """Words that go on ("and the") are held for the caller's next turn: the paused reply
    answers part of what the caller says and never plays."""
    call = _went_on_in_the_hangover(300)
    call.stt(final("and the"))
    assert [c.cause for c in cuts(call)] == [Cause.TURN]
    assert resumes(call) == []
    call.play(QUIET, HELD_TURN_MS)
    assert call.replies()[-1] == "and the"


def test_an_awaited_final_that_never_comes_resumes_after_the_bound() -> None:
    call = _went_on_in_the_hangover(300)
    quiet_ms = 340  # since the caller's last loud frame
    call.play(QUIET, AWAIT_FINAL_MS - quiet_ms - FRAME_MS)
    assert resumes(call) == []
    call.play(QUIET, FRAME_MS)
    assert len(resumes(call)) == 1 and cuts(call) == []


def test_speech_after_an_awaited_pause_counts_on_toward_the_commit() -> None:
    """The caller talks again while the reply awaits their words' final: the speech of
    both runs since the pause's onset makes the commit's 600 ms."""
    call = _went_on_in_the_hangover(300)
    call.play(SPEECH, 280)
    assert cuts(call) == []
    call.play(SPEECH, 20)
    assert [c.cause for c in cuts(call)] == [Cause.SPEECH]


def test_a_tentative_reply_paused_before_it_was_heard_is_never_ducked() -> None:
    call = Tentative()
    call.turns = TurnTaker(call.agent, early_end=call.early, duck_after_ms=200)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice."))
    assert call.replies()
    call.play(SPEECH, 500)  # the caller goes on, undecided for longer than the duck's wait
    assert sum(isinstance(a, PauseAgent) for a in call.actions) == 1
    assert not any(isinstance(a, DuckAgent) for a in call.actions)


def test_a_reply_heard_before_the_pause_is_ducked_as_any() -> None:
    call = Tentative()
    call.turns = TurnTaker(call.agent, early_end=call.early, duck_after_ms=200)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("I was charged twice."))
    call.agent.audible = True
    call.play(SPEECH, 400)
    assert any(isinstance(a, DuckAgent) for a in call.actions)


# ------------------------------------------------------- partials of the audio before the pause


def test_words_a_late_early_partial_in_the_first_quiet_frames_forces_the_end() -> None:
    """The service's early partial of the caller's last words lands in the first quiet
    frames ("one two" of "... five five five | one two."): no speech since the pause began,
    and its words read finished: the turn is forced at the usual 200 ms."""
    call = Tentative()
    call.play(SPEECH, 500)
    call.play(QUIET, 40)
    call.stt(partial("one two"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 500 + 200 - 20]


def test_words_the_same_words_again_in_the_pause_force_the_end() -> None:
    """A partial heard during the speech, sent again in the pause: nothing the caller said
    since, whatever the words (here open ones): the forced end is at the usual time, and
    the final's words decide (held)."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.stt(partial("i'd like to book a table for"))
    call.play(QUIET, 60)
    call.stt(partial("I'd like to book a table for"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 600 + 200 - 20]


def test_words_added_without_speech_since_the_previous_partial_force_the_end() -> None:
    """The previous partial came with the caller's last loud frame; the next one's extra
    words, in the pause, describe audio from before it: no news of the caller going on."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.stt(partial("i'd like to book a"))
    call.play(QUIET, 60)
    call.stt(partial("i'd like to book a table for"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 600 + 200 - 20]


def test_words_a_partial_before_the_services_min_turn_silence_is_weighed_by_its_words() -> None:
    """The line's service waits 400 ms (its min_turn_silence): a partial of new, finished
    words at 100 ms of the pause cannot be its verdict on the silence (the early partial of
    the caller's last words, late): the caller has not gone on since the pause began, the
    words say finished: forced at 200 ms."""
    call = Tentative(verdict_after_ms=400)
    call.play(SPEECH, 600)
    call.stt(partial("my phone"))  # the early partial
    call.play(SPEECH, 600)
    call.play(QUIET, 100)
    call.stt(partial("my phone number is five five five"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 1200 + 200 - 20]


@pytest.mark.parametrize(("service_check_s", "forced"), [(None, False), (0.1, False), (0.4, True)])
def test_the_lines_min_turn_silence_sets_when_a_partial_is_the_services_verdict(
    service_check_s: float | None, forced: bool
) -> None:
    """early_turn_end takes the STT's turn_check_silence (the line's min_turn_silence): a
    partial of finished words at 120 ms of the pause is the service's verdict on a 100 ms
    line (or an unknown one) and stands; on a 400 ms line it is the caller's last words
    arriving late, and the words end the turn at 200 ms."""
    early = early_turn_end(EarlyEndMode.WORDS, 200, service_check_s)
    assert early is not None
    call = Tentative(early=early)
    call.play(SPEECH, 600)
    call.stt(partial("i was"))  # the early partial
    call.play(SPEECH, 600)
    call.play(QUIET, 120)
    call.stt(partial("i was charged twice"))
    call.play(QUIET, 400)
    assert call.forced_at == ([400 + 1200 + 200 - 20] if forced else [])


@pytest.mark.parametrize("quiet_ms", [60, 120, 180])
def test_words_the_services_verdict_stands_over_finished_words(quiet_ms: int) -> None:
    """The service's own partial of the pause, after its min_turn_silence (100 ms, less a
    detector's frame or two), with new words that read finished to the scorer ("i was
    charged twice" | "for the same delivery."): Universal-3 Pro found no sentence end
    there, and its verdict stands: nothing is forced (bench.turn_ends at E = 100 ms: forced,
    the reply's first frame came over the caller going on after a 700 ms pause)."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.stt(partial("i was"))  # the early partial
    call.play(SPEECH, 600)
    call.play(QUIET, quiet_ms)
    call.stt(partial("i was charged twice"))
    call.play(QUIET, 400)
    assert call.forced_at == []
    assert call.replies() == []


def test_words_new_unfinished_words_after_speech_still_stop_the_forced_end() -> None:
    """The caller spoke since the previous partial, and the pause's partial carries new
    words that go on: the service's verdict stands, nothing is forced."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.stt(partial("i'd like"))
    call.play(SPEECH, 600)
    call.play(QUIET, 40)
    call.stt(partial("i'd like to book a table for"))
    call.play(QUIET, 400)
    assert call.forced_at == []


def test_words_a_stale_partial_leaves_the_services_verdict_standing() -> None:
    """The service said "goes on" in this pause; the same words again change nothing."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 100)
    call.stt(partial("i'd like to book a table for"))
    call.play(QUIET, 40)
    call.stt(partial("i'd like to book a table for"))
    call.play(QUIET, 400)
    assert call.forced_at == []


def test_words_held_words_open_the_partial_the_scorer_reads() -> None:
    """After held words ("my order number is") the pause's partial is read as the final
    would carry it: "four" alone reads finished, "my order number is four" not: the
    partial (the early one of the caller's last words, late: 40 ms into the pause) stands
    as the verdict and nothing is forced."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("My order number is"))  # held
    assert call.forced_at == [400 + 600 + 200 - 20]
    call.play(SPEECH, 400)
    call.play(QUIET, 40)
    call.stt(partial("four"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 600 + 200 - 20]


def test_words_a_finished_piece_after_held_words_forces_the_end() -> None:
    """The early partial of the rest, late (40 ms into the pause), joined to the held
    words, reads finished: forced at 200 ms."""
    call = Tentative()
    call.play(SPEECH, 600)
    call.play(QUIET, 320)
    call.stt(final("My order number is"))
    call.play(SPEECH, 600)
    call.play(QUIET, 40)
    call.stt(partial("four five six"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 600 + 200 - 20, 400 + 600 + 320 + 600 + 200 - 20]


def test_text_mode_takes_the_same_words_again_for_no_verdict() -> None:
    call = Call(EarlyEndMode.VAD_TEXT)
    call.play(QUIET, 400)
    call.play(SPEECH, 600)
    call.stt(partial("the package arrived yesterday"))
    call.play(QUIET, 60)
    call.stt(partial("the package arrived yesterday"))
    call.play(QUIET, 400)
    assert call.forced_at == [400 + 600 + 200 - 20]


def test_model_mode_keeps_its_wait_over_a_stale_partial() -> None:
    """A falling voice waits 400 ms; the partial heard at its last loud frame comes again
    at 300 ms of the pause: no verdict, the wait ends the turn."""
    call = Call(EarlyEndMode.MODEL, model=GRADED)
    call.play(QUIET, 400)
    call.say(speech(95.0))
    call.stt(partial("i was charged twice"))
    call.play(QUIET, 300)
    assert call.early.last_wait_ms == 400
    assert call.stt(partial("i was charged twice")) == ()
    call.play(QUIET, 600)
    assert call.forced_at == [400 + 1400 + 400 - 20]
