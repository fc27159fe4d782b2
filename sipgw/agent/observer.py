"""What an agent reports for the gateway's metrics, without knowing about them.

The app layer sets :attr:`sipgw.agent.base.Agent.observer` on each agent it builds;
the agent calls it at the moments below. The agent layer never imports the
app (``sipgw.app``): this protocol is the whole interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from sipgw.agent.talk import TalkFigures

__all__ = [
    "ANSWER_KINDS",
    "TURN_STAGES",
    "AgentObserver",
    "ErrorKind",
    "IdleOutcome",
    "PreemptiveOutcome",
    "Service",
    "SpeculativeOutcome",
]

Service = Literal["stt", "llm", "tts", "s2s"]
"""The AI service an error came from (``s2s``: a speech-to-speech model, agent/s2s/)."""

PreemptiveOutcome = Literal["started", "used", "wasted"]
"""What became of a preemptive LLM request (agent/assistant/preemptive.py)."""

SpeculativeOutcome = Literal["used", "wasted"]
"""What became of a held first clause (agent/assistant/speculative.py): played, or discarded."""

IdleOutcome = Literal["check_in", "hang_up"]
"""What the idle policy did about a quiet caller (agent/idle/policy.py)."""

ErrorKind = Literal["timeout", "connect", "http_status", "protocol"]
"""What went wrong, in a bounded set (metric labels must not explode)."""

TURN_STAGES = (
    "stt_end_of_turn", "llm_first_token", "tools", "tts_first_byte", "gateway_reply_path",
)  # fmt: skip
"""The per-turn latency stages :meth:`AgentObserver.turn_measured` reports (``tools``:
its tool rounds, only in a reply that called tools)."""

ANSWER_KINDS = ("human", "voicemail", "announcement", "screener", "unknown")
"""Who answered an outbound call, as :meth:`AgentObserver.answer_detected` reports it
(``sipgw.agent.amd.AnswerKind`` values)."""


class AgentObserver(Protocol):
    """Receives an agent's events that the gateway counts."""

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        """One reply's latencies in seconds, by stage (:data:`TURN_STAGES`; a missing
        stage was not measured)."""
        ...

    def barge_in(self) -> None:
        """The caller interrupted a reply (a committed barge-in)."""
        ...

    def service_error(self, service: Service, kind: ErrorKind, status: int | None = None) -> None:
        """An AI service failed (a reply fell back, a session failed or reconnected);
        ``status``: the HTTP status or WebSocket close code it answered with, if any (the
        breakers count only what says the vendor is down:
        :func:`sipgw.agent.resilience.breaker.counts_against_vendor`)."""
        ...

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        """A preemptive LLM request was started, used for the reply, or wasted (cancelled)."""
        ...

    def speculative_speech(self, outcome: SpeculativeOutcome, chars: int) -> None:
        """A clause of ``chars`` characters synthesized before the turn was confirmed was
        used (played) or wasted (discarded unheard)."""
        ...

    def tts_spoken(self, chars: int) -> None:
        """``chars`` characters went to text-to-speech for speech played to the caller
        (what the speculative waste is a share of)."""
        ...

    def service_ok(self, service: Service) -> None:
        """A use of an AI service worked (a session opened, a reply came): the gateway's
        breaker for it closes (agent/resilience/breaker.py)."""
        ...

    def failure_decision(self, decision: str) -> None:
        """The failure policy decided what the caller hears (agent/resilience/policy.py:
        ``hold_line``, ``tts_down_apology``, ``stt_down_transfer`` ...)."""
        ...

    def answer_detected(self, kind: str, seconds: float) -> None:
        """Answering-machine detection's final answer on an outbound call: ``kind`` (one of
        :data:`ANSWER_KINDS`), decided ``seconds`` after the answer."""
        ...

    def idle(self, step: IdleOutcome) -> None:
        """The caller stayed quiet (:mod:`sipgw.agent.idle.policy`): the agent checked in
        (``check_in``) or said goodbye and hung up (``hang_up``)."""

    def talk_measured(self, figures: TalkFigures) -> None:
        """An answered call ended: who talked when, and what the caller lived through
        (:mod:`sipgw.agent.talk`)."""

    def tool_called(self, source: str, outcome: str, seconds: float) -> None:
        """A tool call ended: its tool's ``source`` (``builtin``, ``python``, ``http``,
        ``mcp``), ``outcome`` (``ok``, ``error``, or why it was refused: ``schema``,
        ``dial``, ``limit``, ``unavailable``) and how long it took."""
        ...


_LLM_KINDS: dict[str, ErrorKind] = {
    "timeout": "timeout",
    "http": "http_status",
    "connection": "connect",
    "api": "protocol",
    "stream": "protocol",
}


def llm_error_kind(kind: str | None) -> ErrorKind:
    """The bounded kind for an :class:`~sipgw.agent.services.llm.base.LlmError` kind."""
    return _LLM_KINDS.get(kind or "", "protocol")


def status_error_kind(code: int | None, *, connecting: bool) -> ErrorKind:
    """The bounded kind for an STT/TTS failure with an HTTP status or WebSocket close code.

    An HTTP status (100-599) is ``http_status``; a failure while connecting with
    no status is ``connect``; anything else (a close code, an error message in
    the stream) is ``protocol``.
    """
    if code is not None and 100 <= code <= 599:
        return "http_status"
    return "connect" if connecting and code is None else "protocol"
