"""Speculative speech: a preemptive reply's first clause synthesized before the turn ends, held.

Theory of operation
-------------------
A preemptive LLM request (:mod:`sipgw.agent.assistant.preemptive`) runs on the caller's
partial transcript while the turn is not yet confirmed. With speculative speech
on, the moment its stream completes the first clause (cut as early as a comma
allows, :data:`sipgw.agent.services.llm.sentences.FIRST_CLAUSE_CHARS`), that clause goes to
text-to-speech on a reply of its own (:class:`HeldSpeech`). Its audio is *held*: it waits in the
TTS reply's queue, and nothing moves it to the playout, so nothing reaches the
caller. At the confirmed end of turn the request is adopted and the reply
*takes over* that TTS reply (:meth:`sipgw.agent.assistant.speaker.Speaker.begin`): the audio
already there plays at once, and the reply's own sentences skip what was sent
(:meth:`HeldSpeech.unsent`). When the caller goes on, or the final says other
words, the request is dropped and its TTS reply cancelled (for ElevenLabs,
``close_context``): the audio is discarded unheard.

*When* the clause goes to TTS: not before it is needed. A partial without a
sentence end means the STT ends the turn ``turn_end_silence`` after the
caller's last loud frame at the latest (AssemblyAI's ``max_turn_silence``), so
the clause is sent :class:`TtsLead` before that moment (the median of the
call's recent TTS first bytes, plus a margin: one slow first byte, e.g. while
another context was being synthesized, does not make every clause early), or
at once when the LLM is later than that. A caller who goes on before then costs no synthesis at all.

Never held: a clause after the stream asked for a tool (a reply that needs a
tool is spoken only after the confirmation; the words before the tool call,
the model's own "let me check", are held like any first clause, and the tool
itself runs only after it), and a clause the waste budget refuses.

:class:`SpeculationBudget` (sans-IO) bounds the waste: at most
``max_requests_per_turn`` preemptive LLM requests per caller turn, and a
clause is held only if the waste would stay within ``max_wasted_share`` of the
characters spoken *even if that clause and every held one not yet settled were
discarded*: wasted + unsettled + clause <= share x spoken. The waste therefore
never exceeds the share, at any moment. The characters are counted in a
:class:`WasteLedger` that the calls of one assistant share (the gateway's
``sipgw_speculative_tts_chars_total{outcome="wasted"}`` over
``sipgw_tts_spoken_chars_total``): a new call may speculate from its first turn
once the gateway has spoken enough, while a gateway that has just started holds
nothing until it has spoken ``len(clause) / share`` characters. Each call's own
figures go to its record (:meth:`SpeculationBudget.summary`).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sipgw.agent.services.tts.base import TtsReply

__all__ = [
    "MAX_REQUESTS_PER_TURN",
    "TTS_LEAD_DEFAULT",
    "TTS_LEAD_MARGIN",
    "TTS_LEAD_SAMPLES",
    "HeldSpeech",
    "SpeculationBudget",
    "SpeculationLimits",
    "TtsLead",
    "WasteLedger",
]

TTS_LEAD_DEFAULT: Final = 0.3
"""Seconds a TTS first byte is assumed to take before the call has measured one."""
TTS_LEAD_MARGIN: Final = 0.05
"""Seconds a clause is sent earlier than the measured first byte requires."""
TTS_LEAD_SAMPLES: Final = 5
"""The recent first-byte times the lead is the median of."""


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


class WasteLedger:
    """The speculative characters of every call that shares it, and whether one more clause
    may be risked (see the module docstring).

    Attributes:
        spoken_chars: characters sent to TTS for speech played (adopted clauses included).
        wasted_chars: characters synthesized speculatively and discarded.
        unsettled_chars: characters held and neither used nor discarded yet.
    """

    __slots__ = ("spoken_chars", "unsettled_chars", "wasted_chars")

    def __init__(self) -> None:
        self.spoken_chars = 0
        self.wasted_chars = 0
        self.unsettled_chars = 0

    def may_hold(self, chars: int, share: float) -> bool:
        """Whether ``chars`` more may be held: were they and every unsettled clause
        discarded, the waste would stay within ``share`` of the characters spoken."""
        return self.wasted_chars + self.unsettled_chars + chars <= share * self.spoken_chars


class SpeculationBudget:
    """One call's speculation: what it may risk (in the shared ledger) and its own figures.

    Args:
        limits: what may be wasted.
        ledger: the counts the waste share is bounded on, shared by the calls of one
            assistant (see the module docstring); default: one of the call's own.
        on_spoken: called with the characters of each :meth:`spoken` and
            :meth:`used` (the gateway's spoken-characters counter).

    Attributes:
        spoken_chars: characters the call sent to TTS for replies that were played
            (held clauses that were adopted included).
        wasted_chars: characters the call synthesized speculatively and discarded.
        held_chars: characters the call synthesized speculatively (used, wasted or
            unsettled).
        requests_this_turn: preemptive requests started since the last reply began.
        requests_started: preemptive requests started in the call.
        requests_used: of those, adopted by a reply.
        requests_wasted: of those, dropped.
    """

    __slots__ = (
        "_on_spoken", "held_chars", "ledger", "limits", "requests_started", "requests_this_turn",
        "requests_used", "requests_wasted", "spoken_chars", "wasted_chars",
    )  # fmt: skip

    def __init__(
        self,
        limits: SpeculationLimits | None = None,
        ledger: WasteLedger | None = None,
        on_spoken: Callable[[int], None] | None = None,
    ) -> None:
        self.limits = limits or SpeculationLimits()
        self.ledger = ledger if ledger is not None else WasteLedger()
        self._on_spoken = on_spoken
        self.spoken_chars = 0
        self.wasted_chars = 0
        self.held_chars = 0
        self.requests_this_turn = 0
        self.requests_started = 0
        self.requests_used = 0
        self.requests_wasted = 0

    def may_request(self) -> bool:
        """Whether another preemptive LLM request may start in this turn."""
        return self.requests_this_turn < self.limits.max_requests_per_turn

    def requested(self) -> None:
        """A preemptive request started."""
        self.requests_this_turn += 1
        self.requests_started += 1

    def request_settled(self, *, used: bool) -> None:
        """A preemptive request was adopted (``used``) or dropped."""
        if used:
            self.requests_used += 1
        else:
            self.requests_wasted += 1

    def reply_began(self) -> None:
        """A reply began: the caller's turn is over, the request count restarts."""
        self.requests_this_turn = 0

    def may_hold(self, chars: int) -> bool:
        """Whether a clause of ``chars`` characters may be synthesized speculatively
        (:meth:`WasteLedger.may_hold` with the call's share)."""
        return self.ledger.may_hold(chars, self.limits.max_wasted_share)

    def held(self, chars: int) -> None:
        """``chars`` characters went to TTS speculatively (unsettled until used or wasted)."""
        self.held_chars += chars
        self.ledger.unsettled_chars += chars

    def spoken(self, chars: int) -> None:
        """``chars`` characters went to TTS for a reply being played."""
        self.spoken_chars += chars
        self.ledger.spoken_chars += chars
        if self._on_spoken is not None:
            self._on_spoken(chars)

    def used(self, chars: int) -> None:
        """A held clause of ``chars`` characters was adopted: it is spoken."""
        self._settle(chars)
        self.spoken(chars)

    def wasted(self, chars: int) -> None:
        """``chars`` speculative characters were discarded (or their synthesis failed)."""
        self._settle(chars)
        self.wasted_chars += chars
        self.ledger.wasted_chars += chars

    def _settle(self, chars: int) -> None:
        ledger = self.ledger
        ledger.unsettled_chars = max(0, ledger.unsettled_chars - chars)

    def summary(self) -> dict[str, int]:
        """The call's figures, for the call record's end line."""
        return {
            "requests_started": self.requests_started,
            "requests_used": self.requests_used,
            "requests_wasted": self.requests_wasted,
            "held_chars": self.held_chars,
            "wasted_chars": self.wasted_chars,
            "spoken_chars": self.spoken_chars,
        }


class TtsLead:
    """How long before its audio is needed a clause must go to TTS (see the module
    docstring): the median of the call's last :data:`TTS_LEAD_SAMPLES` first-byte
    times, plus :data:`TTS_LEAD_MARGIN`. A lead too short costs the caller what it
    lacked (the audio comes that much after the end of turn); one too long costs
    synthesis for callers who go on later in their pause."""

    __slots__ = ("_recent",)

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=TTS_LEAD_SAMPLES)

    def observe(self, seconds: float) -> None:
        """A reply's first audio byte came ``seconds`` after its text went to TTS."""
        if seconds >= 0:
            self._recent.append(seconds)

    @property
    def seconds(self) -> float:
        """The lead, in seconds."""
        typical = statistics.median(self._recent) if self._recent else TTS_LEAD_DEFAULT
        return typical + TTS_LEAD_MARGIN


class HeldSpeech:
    """A first clause sent to TTS before the turn was confirmed; its audio waits.

    Attributes:
        tts: the TTS reply the clause went to (its audio is not read until adopted).
        text: the clause.
        started_at: loop time it was sent.
        sent: set once the clause's ``send_text`` returned (or failed); the reply's
            own text waits for it, so it follows the clause on the TTS connection.
    """

    __slots__ = ("_unsent_prefix", "sent", "started_at", "text", "tts")

    def __init__(self, tts: TtsReply, text: str, started_at: float) -> None:
        self.tts = tts
        self.text = text
        self.started_at = started_at
        self.sent = asyncio.Event()
        self._unsent_prefix = text

    def unsent(self, sentence: str) -> str:
        """What of the reply's next ``sentence`` still has to go to TTS.

        The reply's sentences come from the same stream as the held clause, so the
        clause is a prefix of the first sentence (or the first sentences make it
        up): that part was sent already.
        """
        held = self._unsent_prefix
        if not held:
            return sentence
        if held.startswith(sentence):
            self._unsent_prefix = held[len(sentence) :].lstrip()
            return ""
        self._unsent_prefix = ""
        if sentence.startswith(held):
            return sentence[len(held) :].lstrip()
        return sentence  # cannot happen with one stream; never lose words
