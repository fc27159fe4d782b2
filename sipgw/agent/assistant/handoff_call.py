"""A hand-off asked for on the assistant's call (the rules:
:mod:`sipgw.agent.conversation.handoff`).

:class:`CallHandOff` runs the ``hand_off`` tool: the request is checked
(:class:`~sipgw.agent.conversation.handoff.HandOffState`), and the call (the gateway's handle:
:class:`~sipgw.agent.conversation.handover.SwitchesLines`) builds and prepares the target line's
agent while the tool runs; a refusal or a failure is a tool error the model tells the caller
about. Then, once the reply that asked for it has been heard, the switch: this agent
stops listening and gives the call, with the conversation so far, to the target's agent,
which speaks at once (:meth:`~sipgw.agent.conversation.handover.PreparedLine.switch`), so the caller
hears no more silence than one reply's first audio.

While the hand-off is pending, the caller's finished turns are not answered here (the
target's model answers them): when the target keeps the speech-to-text session their
words go with the call as text (:attr:`CallHandOff.meanwhile`); when it opens its own,
the gateway plays it the caller's audio since the hand-off began.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sipgw.agent.assistant.conversation import Conversation
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.base import CallControl
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.conversation.handoff import HandOffSettings, HandOffState, hand_off_tool
from sipgw.agent.conversation.handover import HandOver, PreparedLine, SwitchesLines
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.tools.registry import Tool, ToolError

__all__ = ["CallHandOff"]


class CallHandOff:
    """One agent's hand-offs (see the module docstring).

    Args:
        scope: the call's record, clock and tasks.
        call: the call; it hands off only when it can switch lines.
        settings: this line's name and targets.
        speaker: says the replies (the switch waits for the current one to be heard).
        conversation: the conversation, which goes with the caller.
        stt: the call's speech-to-text session (the target may keep it).
        away: the agent's part of the switch, just before it (stop listening); None: the
            switch did not happen after all.
        made: hand-offs the call made before this agent took it.
    """

    __slots__ = (
        "_away", "_call", "_conversation", "_scope", "_speaker", "_stt", "meanwhile",
        "prepared", "settings", "state",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        call: CallControl,
        settings: HandOffSettings,
        speaker: Speaker,
        conversation: Conversation,
        stt: SpeechToText,
        away: Callable[[PreparedLine | None], None],
        made: int = 0,
    ) -> None:
        self.settings = settings
        self.state = HandOffState(settings.line, settings.targets, made)
        self.meanwhile: list[str] = []
        """The caller's finished turns heard while the hand-off was pending."""
        self.prepared: PreparedLine | None = None
        """The target's agent, from the tool's run to the switch."""
        self._scope = scope
        self._call = call
        self._speaker = speaker
        self._conversation = conversation
        self._stt = stt
        self._away = away

    @property
    def pending(self) -> bool:
        """A hand-off is under way: the caller's turns are not answered here."""
        return self.state.pending is not None

    def tool(self) -> Tool | None:
        """The ``hand_off`` tool for this line (None: it names no line)."""
        targets = self.state.targets
        return hand_off_tool(targets, self.run) if targets else None

    async def run(self, line: str, summary: str) -> str:
        """The tool: check, have the target's agent prepared; the switch comes after the
        reply.

        Raises:
            ToolError: it may not, or the line or its agent is not there.
        """
        state = self.state
        why_not = state.request(line)
        if why_not is not None:
            raise ToolError(f"cannot hand off: {why_not}")
        call, scope = self._call, self._scope
        if not isinstance(call, SwitchesLines):
            state.cancel()
            raise ToolError("cannot hand off: this call cannot change lines")
        self.meanwhile.clear()
        hand_over = HandOver(
            state.line, line, summary, record=scope.record, stt=self._stt,
            answered_at=scope.answered_at, hand_offs=state.made + 1,
        )  # fmt: skip
        try:
            prepared = await call.prepare_line(hand_over)
        except BaseException:
            state.cancel()
            raise
        if isinstance(prepared, str):
            state.cancel()
            said = " ".join(self.meanwhile)  # turns held back while it was pending
            heard = f" (meanwhile the caller said: {said!r})" if said else ""
            raise ToolError(f"cannot hand off: {prepared}{heard}")
        self.prepared = prepared
        scope.write({"type": "hand_off_pending", "from": state.line, "to": line})
        scope.spawn(self._switch_after_reply(prepared))
        return f"The caller goes to line {line} after this reply. Say one short sentence at most."

    async def _switch_after_reply(self, prepared: PreparedLine) -> None:
        speaker = self._speaker
        reply = speaker.current
        try:
            if reply is not None:
                if reply.task is not None:
                    await asyncio.wait({reply.task})
                await speaker.played(reply)
        except BaseException:
            self.state.cancel()
            self.prepared = None
            await prepared.cancel()
            raise
        scope = self._scope
        origin, to = self.state.complete()
        hand_over = prepared.hand_over
        kept = hand_over.stt is not None
        answered = scope.answered_at or None
        scope.write({"type": "hand_off", "from": origin, "to": to, "history": hand_over.history,
                     "stt": "kept" if kept else "new",
                     "after_answer_ms": ms_between(scope.now(), answered)})  # fmt: skip
        self._away(prepared)  # it stops listening first: the target reads a kept session
        if not prepared.switch(list(self._conversation.messages), self.meanwhile if kept else ()):
            self._away(None)  # the call ended meanwhile: this agent keeps it, to close it
