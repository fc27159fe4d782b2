"""Typed settings of the AI agents: what an assistant call is configured with, already resolved.

The speech-to-speech agents (``sipgw/agent/s2s``) are built with them too. The plug-ins fill
them in from their sections (:mod:`sipgw.agent.conversation.sections`: flags, environment,
``.env``); nothing in ``agent/`` reads the environment. A tool
module of your own reads its own variables from ``os.environ`` (``sipgw serve``
loads ``.env`` into it first, never overriding a variable that is already set)
and sees these typed settings as ``ctx.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sipgw.agent.amd.settings import AnsweringSettings
from sipgw.agent.conversation.caller_audio import NoiseSettings
from sipgw.agent.idle.policy import IdleSettings
from sipgw.agent.resilience.lines import (
    DEFAULT_ONE_MOMENT_LINE,
    DEFAULT_STT_DOWN_LINE,
    FallbackLine,
)
from sipgw.agent.resilience.policy import FailurePolicySettings
from sipgw.agent.tools.settings import BuiltinToolSettings
from sipgw.agent.transfer.settings import TransferSettings
from sipgw.agent.turns.early_end import EarlyEndMode
from sipgw.foundation.redact import Redactor
from sipgw.media.voice.vad import VadConfig

__all__ = [
    "MAX_REQUESTS_PER_TURN",
    "SpeculationLimits",
    "DEFAULT_CALLBACK_GREETING",
    "DEFAULT_FALLBACK_PHRASE",
    "DEFAULT_FILLER_LINES",
    "DEFAULT_GOODBYE_LINE",
    "DEFAULT_GREETING",
    "DEFAULT_SYSTEM_PROMPT",
    "DEFAULT_TRANSFER_LINE",
    "AssistantSettings",
    "BargeInSettings",
    "EarlyEndSettings",
]

DEFAULT_SYSTEM_PROMPT = """\
You are the voice assistant of a small online shop, speaking with a caller on the phone.
Keep every answer short: one or two sentences, plain words, no lists, no markdown, no emoji.
Say numbers the way people say them on the phone. You can look up an order's status, schedule
a callback, transfer the caller to a human, and end the call. When the caller says goodbye or
has nothing more, say a short goodbye and end the call. If you could not understand, ask the
caller to repeat. Keypad input arrives as text in square brackets."""

DEFAULT_GREETING = "Hello, thanks for calling. How can I help you today?"

DEFAULT_CALLBACK_GREETING = "Hello, this is the call back you asked for. Is now a good time?"
"""The opening line of a callback (what it is about are a caller's words: the model is told
them as data, and never says them verbatim; see agent/conversation/callerwords.py)."""

DEFAULT_FALLBACK_PHRASE = "Sorry, I'm having trouble right now. Could you say that again?"

DEFAULT_TRANSFER_LINE = "Let me connect you with a colleague. One moment."
"""Said before a transfer when the LLM said nothing in that reply."""

DEFAULT_GOODBYE_LINE = "Thank you for calling. Goodbye."
"""Said before the agent hangs up when the LLM said nothing in that reply."""

DEFAULT_FILLER_LINES = ("One moment, I'm checking that.", "Just a second, let me look.")
"""Said (in turn) while a tool takes longer than ``filler_after``."""


MAX_REQUESTS_PER_TURN: Final = 3
"""Preemptive LLM requests per caller turn at most: a turn with many pauses starts no more
after these (each a request paid for; a fixed bound, not a setting)."""


@dataclass(frozen=True, slots=True)
class SpeculationLimits:
    """How much speculation may waste.

    Attributes:
        max_requests_per_turn: preemptive LLM requests per caller turn (the
            first one included); later partials of the same turn start none.
        max_wasted_share: characters synthesized speculatively and discarded,
            as a share of the characters spoken (to callers; see :class:`WasteLedger`).
    """

    max_requests_per_turn: int = MAX_REQUESTS_PER_TURN
    max_wasted_share: float = 0.1


@dataclass(frozen=True, slots=True)
class BargeInSettings:
    """When caller speech interrupts the agent (the rules: agent/turns/machine.py).

    Attributes:
        commit_ms: speech that cancels the reply.
        min_words: words in a partial transcript that cancel the reply.
        vad: the detector; its ``start_ms`` is what pauses the agent's audio.
        noise: which detector, and noise suppression (agent/conversation/caller_audio.py).
        duck_after_ms: a pause still undecided after this long plays on ducked until
            the caller's words decide (agent/turns/machine.py); None = it stays paused.
        duck_db: how much softer a ducked reply plays.
    """

    commit_ms: int = 600
    min_words: int = 2
    vad: VadConfig = VadConfig(start_ms=60, hangover_ms=300)
    noise: NoiseSettings = NoiseSettings()
    duck_after_ms: int | None = 200
    duck_db: float = 12.0


@dataclass(frozen=True, slots=True)
class EarlyEndSettings:
    """When the gateway's detector ends the caller's turn before the STT (agent/turns/early_end.py).

    Attributes:
        mode: off, vad (the detector's silence), vad+text (... unless the partial
            transcript leaves the sentence open), model (... when the turn model hears the
            caller finished), words (the default: a tentative end after the silence, its
            final answered when its words end a sentence, else held).
        silence_ms: the detector's silence that ends the turn.
    """

    mode: EarlyEndMode = EarlyEndMode.WORDS
    silence_ms: int = 200


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """Everything an assistant call is configured with, resolved.

    Tools see this object as ``ctx.settings`` (read-only).

    Attributes:
        system_prompt: the LLM's system prompt.
        greeting: said when an inbound call is answered; "" = wait for the caller.
        callback_greeting: the opening line of a callback the agent places, said as
            written (never with the caller's words); "" = the LLM opens the call.
        outbound_greeting: the opening line of any other call the gateway places; ""
            (the default) = the LLM opens the call. The prompt and the greetings may use
            the call's variables as ``{name}`` (agent/variables.py).
        fallback_phrase: said when the LLM fails or times out.
        tools_module: the user's tools module (name or ``.py`` path); "" = none.
        builtin_tools: the built-in tools' settings.
        record_dir: where per-call JSONL records go; None = no records.
        max_tool_rounds: tool-call rounds the LLM may take per reply.
        barge_in: when caller speech interrupts the agent.
        early_end: when the caller's silence ends a turn before the STT ends it.
        dtmf_timeout: seconds after the last keypad digit before the digits go to the LLM.
        answer_wait: seconds (after the ring time) the answer waits for text-to-speech:
            its connection and the greeting's first audio; then the call is answered
            anyway and the greeting plays when its audio comes (or not, if TTS failed).
        redactor: what is masked in the call records and in the log lines that
            carry the caller's words (default: card numbers).
        preemptive_pause_ms: caller silence after which a partial transcript
            starts the LLM before the end of turn (agent/assistant/preemptive.py); None = off.
        preemptive_during_speech: a stable partial heard while the caller speaks may
            start it too (agent/turns/machine.py); needs preemptive replies.
        speculative_speech: a preemptive request's first clause is synthesized before
            the end of turn and held (agent/assistant/speculative.py); needs preemptive replies.
        speculation: how much preemptive requests and held clauses may waste.
        transfer_line: said before a transfer when the reply that asked for it said nothing.
        goodbye_line: said before the agent hangs up when the reply that asked said nothing.
        action_line_timeout: seconds after ``transfer_to_human`` or ``end_call`` ran that the
            transfer or hang-up waits at most for its line to be heard.
        filler_after: seconds a tool round may run before a filler line is said; None = never.
        filler_lines: the filler lines, said in turn (one per slow tool round at most).
        one_moment_line: said when the caller has waited too long for a reply (the
            failure policy, agent/resilience/policy.py).
        stt_down_line: said when speech recognition has been down for a few seconds.
        fallback_cache_dir: where the fallback lines' audio is kept across restarts
            (agent/resilience/line_cache.py); None = synthesized at each start-up.
        failure_policy: when the failure policy speaks up and when the call moves on.
        answering: what an outbound call with answering-machine detection says to a
            voicemail or a call screener, and the detector's thresholds (docs/amd.md).
        transfer: how ``transfer_to_human`` transfers: blind, or warm (hold music, the
            person briefed, then joined: agent/transfer/warm.py).
        idle: when the agent checks on a caller who went quiet, and when it gives up
            (agent/idle/policy.py).
    """

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    greeting: str = DEFAULT_GREETING
    callback_greeting: str = DEFAULT_CALLBACK_GREETING
    outbound_greeting: str = ""
    fallback_phrase: str = DEFAULT_FALLBACK_PHRASE
    tools_module: str = ""
    builtin_tools: BuiltinToolSettings = BuiltinToolSettings()
    record_dir: Path | None = Path("calls")
    max_tool_rounds: int = 4
    barge_in: BargeInSettings = BargeInSettings()
    early_end: EarlyEndSettings = EarlyEndSettings()
    dtmf_timeout: float = 1.5
    answer_wait: float = 1.0
    redactor: Redactor = field(default_factory=Redactor)
    preemptive_pause_ms: int | None = None
    preemptive_during_speech: bool = False
    speculative_speech: bool = False
    speculation: SpeculationLimits = SpeculationLimits()
    transfer_line: str = DEFAULT_TRANSFER_LINE
    goodbye_line: str = DEFAULT_GOODBYE_LINE
    action_line_timeout: float = 10.0
    filler_after: float | None = 0.7
    filler_lines: tuple[str, ...] = DEFAULT_FILLER_LINES
    one_moment_line: str = DEFAULT_ONE_MOMENT_LINE
    stt_down_line: str = DEFAULT_STT_DOWN_LINE
    fallback_cache_dir: Path | None = Path("fallback-lines")
    failure_policy: FailurePolicySettings = FailurePolicySettings()
    answering: AnsweringSettings = AnsweringSettings()
    transfer: TransferSettings = TransferSettings()
    idle: IdleSettings = IdleSettings()

    def fallback_texts(self) -> dict[FallbackLine, str]:
        """The words of each fallback line (agent/resilience/lines.py); empty ones left out."""
        texts = {
            FallbackLine.APOLOGY: self.fallback_phrase,
            FallbackLine.ONE_MOMENT: self.one_moment_line,
            FallbackLine.GOODBYE: self.goodbye_line,
            FallbackLine.TRANSFER: self.transfer_line,
            FallbackLine.STT_DOWN: self.stt_down_line,
        }
        return {line: text.strip() for line, text in texts.items() if text.strip()}
