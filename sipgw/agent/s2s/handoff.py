"""Hand-offs on a speech-to-speech call: to another line, and taking a call over.

The rules are the assistant's (:mod:`sipgw.agent.conversation.handoff`: the ``hand_off`` tool,
:class:`~sipgw.agent.conversation.handoff.HandOffState`); the switch is
:mod:`sipgw.agent.conversation.handover`'s. :class:`S2sHandOff` runs the tool on a speech-to-speech
call: the gateway prepares the target line's agent while the tool runs, and once the
model's sentence after it was heard (the replies live then, and the next one to start
within :data:`~sipgw.agent.s2s.actions.REPLY_START_WAIT`, bounded by the line's
``action_line_timeout``), the call goes to that agent with the conversation so far
(the session's history, as chat messages: :func:`history_messages`).

:func:`taken_over_instructions` is what a speech-to-speech session taking a call over
is told: its line's prompt, the conversation so far as its line keeps it, as data, and
the hand-over's note; its model then speaks first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final

from sipgw.agent.base import CallControl
from sipgw.agent.callscope import ms_between
from sipgw.agent.conversation.handoff import HandOffSettings, HandOffState, hand_off_tool
from sipgw.agent.conversation.handover import HandOver, PreparedLine, SwitchesLines, history_text
from sipgw.agent.s2s.actions import REPLY_START_WAIT
from sipgw.agent.s2s.replies import Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.tools.registry import Tool, ToolError

__all__ = ["S2sHandOff", "history_messages", "taken_over_instructions"]

POLL: Final = 0.05
"""How often the wait for the model's last sentence looks at the replies (s)."""


def history_messages(history: Sequence[str]) -> list[dict[str, Any]]:
    """A speech-to-speech call's history (``Caller: ...``, ``You: ...`` lines) as chat
    messages, for a pipeline assistant taking the call over."""
    messages: list[dict[str, Any]] = []
    for line in history:
        who, _, said = line.partition(": ")
        if said:
            messages.append({"role": "user" if who == "Caller" else "assistant", "content": said})
    return messages


def taken_over_instructions(
    prompt: str, hand_over: HandOver, messages: Sequence[dict[str, Any]], note: str
) -> str:
    """The instructions of a session that takes a call over (see the module docstring)."""
    said = history_text(hand_over.kept(messages))
    history = f"\n\nThe conversation so far, as data:\n{said}" if said else ""
    return f"{prompt}{history}\n\n{note}"


class S2sHandOff:
    """One speech-to-speech call's hand-offs (see the module docstring).

    Args:
        scope: the call's record, clock, tasks and session.
        call: the call; it hands off only when it can switch lines.
        settings: this line's name and targets.
        speaking: the model's live replies (the switch waits for them).
        history: the conversation so far (the session's history lines, read at the switch).
        away: the agent's part of the switch, just before it.
        line_timeout: the longest wait for the model's sentence to be heard (s).
        made: hand-offs the call made before this agent took it.
    """

    __slots__ = (
        "_away", "_call", "_held_for", "_held_since", "_history", "_scope", "_speaking",
        "_timeout", "prepared", "state",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        call: CallControl,
        settings: HandOffSettings,
        speaking: Speaking,
        history: Callable[[], Sequence[str]],
        away: Callable[[PreparedLine | None], None],
        line_timeout: float,
        made: int = 0,
    ) -> None:
        self.state = HandOffState(settings.line, settings.targets, made)
        self.prepared: PreparedLine | None = None
        self._scope = scope
        self._call = call
        self._speaking = speaking
        self._history = history
        self._away = away
        self._timeout = line_timeout
        self._held_since: float | None = None
        self._held_for = 0.0
        """Seconds the caller held the call since the wait for the line began."""

    def hold(self, held: bool) -> None:
        """The caller held the call (the line cannot be heard: its wait stops) or resumed
        it (the wait goes on from where it was)."""
        now = self._scope.now()
        if held and self._held_since is None:
            self._held_since = now
        elif not held and self._held_since is not None:
            self._held_for += now - self._held_since
            self._held_since = None

    def _on_hold(self) -> float:
        """Seconds on hold since the wait began, the hold in progress counted."""
        since = self._held_since
        return self._held_for + (self._scope.now() - since if since is not None else 0.0)

    def tool(self) -> Tool | None:
        """The ``hand_off`` tool for this line (None: it names no line)."""
        targets = self.state.targets
        return hand_off_tool(targets, self.run) if targets else None

    async def run(self, line: str, summary: str) -> str:
        """The tool: check, have the target's agent prepared; the switch comes after the
        model's sentence.

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
        hand_over = HandOver(
            state.line, line, summary, record=scope.record, answered_at=scope.answered_at,
            hand_offs=state.made + 1,
        )  # fmt: skip
        try:
            prepared = await call.prepare_line(hand_over)
        except BaseException:
            state.cancel()
            raise
        if isinstance(prepared, str):
            state.cancel()
            raise ToolError(f"cannot hand off: {prepared}")
        self.prepared = prepared
        scope.write({"type": "hand_off_pending", "from": state.line, "to": line})
        scope.spawn(self._switch_after_line(prepared))
        return f"The caller goes to line {line} after this reply. Say one short sentence at most."

    async def _switch_after_line(self, prepared: PreparedLine) -> None:
        scope = self._scope
        try:
            await self._line_heard()
        except BaseException:
            self.state.cancel()
            self.prepared = None
            await prepared.cancel()
            raise
        origin, to = self.state.complete()
        answered = scope.answered_at or None
        scope.write({"type": "hand_off", "from": origin, "to": to,
                     "history": prepared.hand_over.history, "stt": "new",
                     "after_answer_ms": ms_between(scope.now(), answered)})  # fmt: skip
        self._away(prepared)
        if not prepared.switch(history_messages(self._history())):
            self._away(None)  # the call ended meanwhile: this agent keeps it, to close it

    async def _line_heard(self) -> None:
        """Until the replies live now, and the next one (the sentence after the tool's
        result, if it starts within REPLY_START_WAIT), have played out."""
        speaking, scope = self._speaking, self._scope
        speaking.prune()
        before = {id(reply) for reply in speaking.live}
        started = scope.now()
        self._held_for = 0.0
        if self._held_since is not None:  # held already: the wait counts from the resume
            self._held_since = started
        followed = False
        while scope.now() - self._on_hold() < started + self._timeout:  # hold not counted
            speaking.prune()
            followed = followed or any(id(reply) not in before for reply in speaking.live)
            waited = scope.now() - started - self._on_hold()
            if not speaking.live and (followed or waited >= REPLY_START_WAIT):
                return
            await asyncio.sleep(POLL)
