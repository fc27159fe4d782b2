"""The turn-taking of a ConversationRelay session as its TwiML asks (docs/twilio-apps.md).

The session's :class:`~sipgw.agent.turns.machine.TurnTaker` is the assistant's machine with:

- ``interruptSensitivity`` (:data:`SENSITIVITY`): how much of the caller's speech pauses a
  reply (the voice detector's ``start_ms``), cuts it (``commit_ms``) and how many words of a
  partial cut it (``min_words``). ``high``, the default, is the machine's defaults (the
  assistant's barge-in defaults).
- ``turnDetection``: the turn model ends the caller's turn (early end ``model``: after
  :data:`TURN_MODEL_SILENCE_MS` of silence the model, from the pause's audio and the turn's
  words, sets how much more the pause must last).
- ``eotThreshold`` (0 to 1): the turn model ends the turn at that silence when it is at least
  that sure the caller is done, else the speech-to-text's own end decides (with or without
  ``turnDetection``); higher: fewer early ends.
- ``speechtimeout`` (without ``turnDetection``): the caller's silence that ends the turn
  whatever the words (early end ``vad`` at that silence: the speech-to-text is asked to
  finalize at once). The listener also gives it to a speech-to-text that takes
  configuration as its ``max_turn_silence``, so the service's own end comes no sooner on
  unfinished words.

Without either the speech-to-text's own end of turn decides, as before these attributes were
read. ``ignorebackchannel`` and ``echoPromptFiltering`` are the listener's
(:mod:`sipgw.agent.twiml.relay.listener`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipgw.agent.turns.actions import AgentState
from sipgw.agent.turns.early_end import EarlyEndMode, EarlyTurnEnd, early_turn_end
from sipgw.agent.turns.machine import TurnTaker
from sipgw.agent.turns.machine import retune as retune_machine
from sipgw.media.voice.vad import VadConfig
from sipgw.twilio.relaytwiml import ConversationRelay

__all__ = [
    "SENSITIVITY",
    "TURN_MODEL_SILENCE_MS",
    "Sensitivity",
    "relay_early_end",
    "relay_turns",
    "retune",
]


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """What of the caller's speech over a reply pauses and cuts it."""

    start_ms: int
    """Loud audio in a row that starts speech: the reply pauses."""
    commit_ms: int
    """Speech that cuts the reply."""
    min_words: int
    """Words of a partial transcript that cut the reply (a stop word cuts it alone)."""


SENSITIVITY: Final = {
    "high": Sensitivity(start_ms=60, commit_ms=600, min_words=2),
    "medium": Sensitivity(start_ms=120, commit_ms=900, min_words=3),
    "low": Sensitivity(start_ms=200, commit_ms=1200, min_words=4),
}
"""``interruptSensitivity``'s settings; ``high`` is the machine's defaults."""
HANGOVER_MS: Final = 300
"""The detector's quiet audio that ends speech (the machine's default)."""
TURN_MODEL_SILENCE_MS: Final = 200
"""``turnDetection``: the silence after which the turn model is asked (the assistant's
``SIPGW_EARLY_END_SILENCE_MS`` default)."""


def relay_early_end(relay: ConversationRelay, service_check_s: float | None) -> EarlyTurnEnd | None:
    """The early end ``turnDetection`` or ``speechtimeout`` asks for (None: the STT's own
    end of turn); ``service_check_s``: the STT's ``turn_check_silence``."""
    if relay.turn_detection or relay.eot_threshold is not None:
        return early_turn_end(EarlyEndMode.MODEL, TURN_MODEL_SILENCE_MS, service_check_s,
                              relay.eot_threshold)  # fmt: skip
    if relay.speech_timeout_ms is not None:
        return early_turn_end(EarlyEndMode.VAD, relay.speech_timeout_ms, service_check_s)
    return None


def relay_turns(
    relay: ConversationRelay, agent: AgentState, service_check_s: float | None
) -> TurnTaker:
    """The session's turn-taking machine (see the module docstring)."""
    sensitivity = SENSITIVITY[relay.interrupt_sensitivity]
    return TurnTaker(
        agent,
        commit_ms=sensitivity.commit_ms,
        min_words=sensitivity.min_words,
        vad=VadConfig(start_ms=sensitivity.start_ms, hangover_ms=HANGOVER_MS),
        early_end=relay_early_end(relay, service_check_s),
    )


def retune(turns: TurnTaker, relay: ConversationRelay, service_check_s: float | None) -> None:
    """The machine set as ``relay`` asks, mid-call (a ``config`` changed it)."""
    sensitivity = SENSITIVITY[relay.interrupt_sensitivity]
    retune_machine(turns, sensitivity.commit_ms, sensitivity.min_words, sensitivity.start_ms,
                   relay_early_end(relay, service_check_s))  # fmt: skip
