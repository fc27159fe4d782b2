"""Hand-offs on a speech-to-speech call: to another line, and taking a call over.

The rules and the tool's run are every AI agent's (:mod:`sipgw.agent.conversation.handoff`:
the ``hand_off`` tool, :class:`~sipgw.agent.conversation.handoff.LineHandOff`); the switch is
:mod:`sipgw.agent.conversation.handover`'s. :class:`S2sHandOff` is the speech-to-speech
agent's: the gateway prepares the target line's agent while the tool runs, and once the
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
from sipgw.agent.conversation.handoff import HandOffSettings, LineHandOff
from sipgw.agent.conversation.handover import HandOver, PreparedLine, history_text
from sipgw.agent.s2s.actions import REPLY_START_WAIT
from sipgw.agent.s2s.replies import Speaking
from sipgw.agent.s2s.scope import SessionScope

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


class S2sHandOff(LineHandOff):
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

    __slots__ = ("_held_for", "_held_since", "_history", "_speaking", "_timeout")

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
        super().__init__(scope, call, settings, away, made)
        self._speaking = speaking
        self._history = history
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

    def _switch(self, prepared: PreparedLine) -> bool:
        return prepared.switch(history_messages(self._history()))

    async def _heard(self) -> None:
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
