"""A speech-to-speech call's trace spans: a ``turn`` per reply, a ``tool`` per tool call.

The service listens, thinks and speaks in one session, so there are no STT, LLM and TTS
steps to time as the assistant does (:mod:`sipgw.agent.assistant.turn_spans`); a turn is
timed from the service's own events instead:

* it starts at the caller's end of speech as the service heard it
  (:class:`~sipgw.agent.services.s2s.base.CallerSpeechStopped`: AssemblyAI's
  ``input.speech.stopped``, OpenAI's ``input_audio_buffer.speech_stopped``; else the
  local VAD's last loud frame), or at the reply's start when no new speech precedes it
  (the greeting, the reply to a tool's result, a check-in);
* ``reply_started`` (``reply.started``, ``response.created``) and ``first_audio`` (the
  first ``reply.audio`` or ``response.output_audio.delta``) are its events;
  ``turn.first_audio_ms`` is the caller's end of speech to the first audio,
  ``s2s.first_audio_ms`` the reply's start to it;
* it ends when the service ends the reply (``reply.done``, ``response.done``) and its
  tool calls are answered, with ``s2s.status`` (``turn.barge_in`` when the caller cut
  it); a failed reply is an error.

Its attributes name the vendor's ids: ``s2s.reply_id`` (AssemblyAI's ``reply_id``,
OpenAI's response id) on the turn, ``s2s.session_id`` (AssemblyAI's ``session_id``,
OpenAI's ``session.id``) on the call span. Each tool call is a ``tool`` span under the
turn of the reply that made it, and the current span of its task: its HTTP and MCP
requests carry its ``traceparent``.

With tracing off the call span is :data:`~sipgw.foundation.tracing.NO_SPAN`: nothing here
allocates or computes anything then.
"""

from __future__ import annotations

from sipgw.agent.s2s.replies import Reply
from sipgw.agent.s2s.scope import SessionScope
from sipgw.foundation.tracing import NO_SPAN, Span

__all__ = ["TurnSpans"]


class TurnSpans:
    """One call's turn spans (see the module docstring)."""

    __slots__ = ("_answered", "_scope", "_session_id", "_stopped_at")

    def __init__(self, scope: SessionScope) -> None:
        self._scope = scope
        self._stopped_at: float | None = None
        """The service's last end of the caller's speech not answered yet."""
        self._answered: float | None = None
        """The local VAD's end of speech of the last turn timed from the caller's speech."""
        self._session_id: str | None = None

    def caller_stopped(self, at: float) -> None:
        """The service heard the caller stop speaking."""
        if self._scope.span.recording:
            self._stopped_at = at

    def reply_started(self, reply: Reply) -> None:
        """Open the reply's turn span."""
        call = self._scope.span
        if not call.recording:
            return
        session_id = self._scope.session.session_id
        if session_id is not None and session_id != self._session_id:
            self._session_id = session_id
            call.set_attribute("s2s.session_id", session_id)
        service_end, self._stopped_at = self._stopped_at, None
        local_end = reply.speech_end_at
        speech_end = service_end
        if speech_end is None and local_end is not None and local_end != self._answered:
            speech_end = local_end  # no service event: the local VAD's end of speech
        if speech_end is not None:
            self._answered = local_end  # a later reply to the same speech starts at its start
        start = reply.started_at if speech_end is None else speech_end
        span = call.child(
            "turn",
            {"turn": reply.turn, "turn.kind": reply.kind, "s2s.reply_id": reply.id},
            start=start,
        )
        span.add_event("reply_started", at=reply.started_at)
        if speech_end is not None:
            span.set_attribute("turn.end_of_speech_to_reply_ms",
                               (reply.started_at - speech_end) * 1000)  # fmt: skip
        reply.span = span
        reply.speech_ended_at = speech_end

    @staticmethod
    def first_audio(reply: Reply) -> None:
        """The reply's first audio arrived."""
        span, at = reply.span, reply.first_audio_at
        if not span.recording or at is None:
            return
        span.add_event("first_audio", at=at)
        span.set_attribute("s2s.first_audio_ms", (at - reply.started_at) * 1000)
        if reply.speech_ended_at is not None:
            span.set_attribute("turn.first_audio_ms", (at - reply.speech_ended_at) * 1000)

    def tool_started(self, reply: Reply | None, name: str) -> Span:
        """A tool call's span, under its reply's turn (the call's span without one)."""
        parent = reply.span if reply is not None else self._scope.span
        if not parent.recording:
            return NO_SPAN
        if reply is not None:
            reply.tools_running += 1
        return parent.child("tool", {"tool.name": name})

    def tool_ended(self, reply: Reply | None, span: Span, ok: bool, source: str,
                   refused: str) -> None:  # fmt: skip
        """A tool call's result is in: end its span (and its turn, if that is over)."""
        if not span.recording:
            return
        span.set_attribute("tool.ok", ok)
        if source:
            span.set_attribute("tool.source", source)
        if not ok:
            span.set_error(refused or "error")
        span.end(self._scope.now())  # on the clock its turn ends on
        if reply is not None:
            reply.tools_running -= 1
            if reply.done and not reply.tools_running:
                self._end(reply)

    def reply_done(self, reply: Reply, error: str) -> None:
        """The service ended the reply: its turn ends once its tool calls are answered."""
        span = reply.span
        if not span.recording:
            return
        span.set_attribute("s2s.status", reply.status)
        if reply.heard is not None:
            span.set_attribute("turn.barge_in", True)
        if reply.status == "failed":
            span.set_error(error or "failed")
        if not reply.tools_running:
            self._end(reply)

    def call_ended(self, replies: list[Reply]) -> None:
        """The call ended: the turns still open end now."""
        for reply in replies:
            self._end(reply)

    def _end(self, reply: Reply) -> None:
        reply.span.end(self._scope.now())
