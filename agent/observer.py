"""What an agent reports for the gateway's metrics, without knowing about them.

The app layer sets :attr:`agent.base.Agent.observer` on each agent it builds;
the agent calls it at the moments below. The agent layer never imports the
app (``sipgw.app``): this protocol is the whole interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

__all__ = ["AgentObserver", "ErrorKind", "PreemptiveOutcome", "Service", "TURN_STAGES"]

Service = Literal["stt", "llm", "tts"]
"""The AI service an error came from."""

PreemptiveOutcome = Literal["started", "used", "wasted"]
"""What became of a preemptive LLM request (agent/preemptive.py)."""

ErrorKind = Literal["timeout", "connect", "http_status", "protocol"]
"""What went wrong, in a bounded set (metric labels must not explode)."""

TURN_STAGES = ("stt_end_of_turn", "llm_first_token", "tts_first_byte", "gateway_reply_path")
"""The per-turn latency stages :meth:`AgentObserver.turn_measured` reports."""


class AgentObserver(Protocol):
    """Receives an agent's events that the gateway counts."""

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        """One reply's latencies in seconds, by stage (:data:`TURN_STAGES`; a missing
        stage was not measured)."""
        ...

    def barge_in(self) -> None:
        """The caller interrupted a reply (a committed barge-in)."""
        ...

    def service_error(self, service: Service, kind: ErrorKind) -> None:
        """An AI service failed (a reply fell back, a session failed or reconnected)."""
        ...

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        """A preemptive LLM request was started, used for the reply, or wasted (cancelled)."""
        ...


_LLM_KINDS: dict[str, ErrorKind] = {
    "timeout": "timeout",
    "http": "http_status",
    "connection": "connect",
    "api": "protocol",
    "stream": "protocol",
}


def llm_error_kind(kind: str | None) -> ErrorKind:
    """The bounded kind for an :class:`~agent.llm.base.LlmError` kind."""
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
