"""The turn-taking a ``<ConversationRelay>`` asks for: ``interruptSensitivity`` sets how much
speech pauses and cuts a reply (``high`` being the machine's and the assistant's defaults),
``turnDetection`` the turn model's early end, ``speechtimeout`` the silence that ends a turn.
Real μ-law frames through the real detector, one per 20 ms on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sipgw.agent.conversation.settings import BargeInSettings
from sipgw.agent.turns.early_end import EarlyEndMode
from sipgw.agent.turns.machine import (
    CommitBargeIn,
    ForceTurnEnd,
    PauseAgent,
    TurnAction,
    TurnTaker,
)
from sipgw.agent.twiml.relay.turntaking import (
    SENSITIVITY,
    TURN_MODEL_SILENCE_MS,
    relay_early_end,
    relay_turns,
)
from sipgw.app.evaluation.audio import tone_frame
from sipgw.twilio.relaytwiml import ConversationRelay

SPEECH = tone_frame(300, -20)
SILENCE = b"\xff" * 160


@dataclass
class Agent:
    """The agent's side as the machine reads it: a reply playing since 0."""

    talking: bool = True

    @property
    def audible(self) -> bool:
        return self.talking

    @property
    def pending(self) -> bool:
        return self.talking

    def active_reply_started_at(self) -> float | None:
        return 0.0 if self.talking else None


def feed(turns: TurnTaker, frames: list[bytes], start_ms: int = 0) -> list[tuple[int, TurnAction]]:
    """The frames from ``start_ms`` on; each action with the time (ms) of its frame."""
    heard = []
    for n, frame in enumerate(frames):
        at = start_ms + (n + 1) * 20
        heard += [(at, action) for action in turns.receive_audio(frame, at / 1000)]
    return heard


def test_high_sensitivity_is_today_s_barge_in() -> None:
    turns = relay_turns(ConversationRelay("wss://a"), Agent(), None)
    plain, assistant = TurnTaker(Agent()), BargeInSettings()
    assert (turns.commit_ms, turns.min_words) == (plain.commit_ms, plain.min_words)
    assert (turns.commit_ms, turns.min_words) == (assistant.commit_ms, assistant.min_words)
    assert turns.vad.config == plain.vad.config
    assert turns.vad.config.start_ms == assistant.vad.start_ms


@pytest.mark.parametrize("level", ["high", "medium", "low"])
def test_sensitivity_sets_the_speech_that_pauses_and_cuts_a_reply(level: str) -> None:
    turns = relay_turns(ConversationRelay("wss://a", interrupt_sensitivity=level), Agent(), None)
    heard = feed(turns, [SILENCE] * 20 + [SPEECH] * 100)  # the detector learns the line first
    paused = [at - 400 for at, action in heard if isinstance(action, PauseAgent)]
    cut = [at - 400 for at, action in heard if isinstance(action, CommitBargeIn)]
    wanted = SENSITIVITY[level]
    assert paused == [wanted.start_ms]  # the detector's start, in loud ms
    assert wanted.commit_ms <= cut[0] <= wanted.commit_ms + 80  # the first cut (the fake
    # agent's audio plays on after it)
    assert turns.min_words == wanted.min_words


def test_a_short_sound_pauses_a_reply_at_high_sensitivity_only() -> None:
    for level, pauses in (("high", True), ("medium", False), ("low", False)):
        turns = relay_turns(ConversationRelay("wss://a", interrupt_sensitivity=level), Agent(),
                            None)  # fmt: skip
        heard = feed(turns, [SILENCE] * 20 + [SPEECH] * 5 + [SILENCE] * 30)  # 100 ms: a cough
        assert any(isinstance(action, PauseAgent) for _, action in heard) is pauses, level


def test_turn_detection_and_speech_timeout_choose_the_early_end() -> None:
    assert relay_early_end(ConversationRelay("wss://a"), None) is None  # the STT's own end
    model = relay_early_end(ConversationRelay("wss://a", turn_detection=True), 0.1)
    assert model is not None and model.mode is EarlyEndMode.MODEL
    assert model.silence_ms == TURN_MODEL_SILENCE_MS
    timeout = relay_early_end(ConversationRelay("wss://a", speech_timeout_ms=700), 0.1)
    assert timeout is not None and timeout.mode is EarlyEndMode.VAD
    assert timeout.silence_ms == 700
    both = relay_early_end(
        ConversationRelay("wss://a", turn_detection=True, speech_timeout_ms=700), 0.1
    )
    assert both is not None and both.mode is EarlyEndMode.MODEL  # the model decides sooner
    bar = relay_early_end(ConversationRelay("wss://a", eot_threshold=0.7), 0.1)
    assert bar is not None and bar.mode is EarlyEndMode.MODEL and bar.bar == 0.7
    assert model.bar is None  # turnDetection alone: the graded wait


def test_speech_timeout_ends_the_turn_at_that_silence() -> None:
    relay = ConversationRelay("wss://a", speech_timeout_ms=700)
    turns = relay_turns(relay, Agent(talking=False), None)
    heard = feed(turns, [SILENCE] * 20 + [SPEECH] * 30 + [SILENCE] * 60)
    ended = [at for at, action in heard if isinstance(action, ForceTurnEnd)]
    assert ended == [400 + 600 + 700]  # the last loud frame at 1000 ms, then 700 ms of quiet
    plain = relay_turns(ConversationRelay("wss://a"), Agent(talking=False), None)
    heard = feed(plain, [SILENCE] * 20 + [SPEECH] * 30 + [SILENCE] * 60)
    assert not any(isinstance(action, ForceTurnEnd) for _, action in heard)
