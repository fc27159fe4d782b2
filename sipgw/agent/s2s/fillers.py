"""Filler lines while a slow tool runs, said by the model itself (sessions that can).

The assistant's rule (:mod:`sipgw.agent.assistant.fillers`, ``SIPGW_FILLER_*``): a round of
tool calls (from the first one started to the last one answered) still running
``filler_after`` seconds after it started, while no agent audio is queued, makes the agent
say the next of ``filler_lines`` in turn, or the slow tool's own line. The sans-IO parts
are the assistant's (:class:`~sipgw.agent.assistant.fillers.ToolRound`,
:class:`~sipgw.agent.assistant.fillers.FillerLines`); :class:`S2sFillers` runs them for a
speech-to-speech call.

The line is the model's: :meth:`sipgw.agent.services.s2s.base.SpeechToSpeech.request_filler` asks it
to say exactly that line as a reply of its own (OpenAI Realtime: a ``response.create`` with
the line quoted in its instructions and no tools), so it is heard in the voice of the call
and is part of the model's context as what it said, to the word, with no item of ours to
add. Its reply is marked (:class:`~sipgw.agent.services.s2s.base.ReplyStarted` ``filler``): it is no
turn, the reply that answers the tool's result drops what is left of it when its own audio
comes (the model's context truncated to what was heard, as after a barge-in:
:meth:`sipgw.agent.s2s.voice.ModelVoice.audio`), and a transfer waiting for its line does
not take it for that line. Sessions that cannot (AssemblyAI's Voice Agent API has no client
event that adds the agent's words to the conversation) say none.

While the caller holds the call the filler's time stops and goes on on resume, as the
assistant's does.
"""

from __future__ import annotations

import asyncio
import logging

from sipgw.agent.callscope import ms_between
from sipgw.agent.conversation.fillers import FillerLines, ToolRound
from sipgw.agent.s2s.replies import Speaking
from sipgw.agent.s2s.scope import SessionScope

__all__ = ["S2sFillers"]

log = logging.getLogger("sipgw.agent")


class S2sFillers:
    """One call's filler lines (see the module docstring).

    Args:
        scope: the call's record, clock and session.
        filler_after: seconds a tool round runs before a filler; None = never.
        lines: the filler lines, said in turn.
        speaking: the live replies and the playout (no filler over queued audio).
    """

    __slots__ = ("_held_since", "_lines", "_own", "_round", "_scope", "_speaking", "_started",
                 "_timer")  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        filler_after: float | None,
        lines: tuple[str, ...],
        speaking: Speaking,
    ) -> None:
        self._scope = scope
        self._round = ToolRound(filler_after)
        self._lines = FillerLines(lines)
        self._speaking = speaking
        self._timer: asyncio.TimerHandle | None = None
        self._held_since: float | None = None
        self._own = ""
        self._started = 0.0

    def tool_called(self, filler: str = "") -> None:
        """A tool call started now; ``filler``: the tool's own line, if it has one."""
        now = self._scope.now()
        if self._round.tool_called(now):
            self._started = now
            self._own = filler
            self._arm()
        else:
            self._own = self._own or filler

    def tool_returned(self) -> None:
        """A tool call answered: a round over has no filler due any more."""
        if self._round.tool_returned():
            self._cancel()
        if self._round.due_at is None:
            self._own = ""

    def hold(self, held: bool) -> None:
        """The caller holds the call (True): the filler's time stops; it goes on on resume."""
        now = self._scope.now()
        if held and self._held_since is None:
            self._held_since = now
            self._cancel()
        elif not held and self._held_since is not None:
            self._round.shift(now - self._held_since)
            self._held_since = None
            self._arm()

    def close(self) -> None:
        """The call ended."""
        self._cancel()

    def _arm(self) -> None:
        due = self._round.due_at
        if due is None or self._held_since is not None or self._timer is not None:
            return
        self._timer = self._scope.loop.call_at(due, self._due)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        self._round.due_at = None  # one filler per round (a resume does not make another)
        scope = self._scope
        session = scope.session
        if scope.closed or not session.fillers:
            return
        self._speaking.prune()
        queued = self._speaking.playout.pending or bool(self._speaking.live)
        text = self._lines.pick(audio_queued=queued, reply_waiting=True, own=self._own)
        if text is None:
            return
        if not session.request_filler(text):
            return
        scope.write({"type": "filler", "text": text,
                     "after_ms": ms_between(scope.now(), self._started)})  # fmt: skip
        log.info("[%s] filler line asked of the model", scope.log_id)
