"""A hand-off asked for on the assistant's call (the rules and the run:
:mod:`sipgw.agent.conversation.handoff`).

:class:`CallHandOff` is the assistant's :class:`~sipgw.agent.conversation.handoff.LineHandOff`:
the switch waits until the reply that asked for it has been heard, and the call goes to the
target's agent with the conversation's messages, which speaks at once
(:meth:`~sipgw.agent.conversation.handover.PreparedLine.switch`), so the caller hears no more
silence than one reply's first audio.

While the hand-off is pending, the caller's finished turns are not answered here (the
target's model answers them): when the target keeps the speech-to-text session their
words go with the call as text (:attr:`CallHandOff.meanwhile`); when it opens its own,
the gateway plays it the caller's audio since the hand-off began.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from sipgw.agent.assistant.conversation import Conversation
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.base import CallControl
from sipgw.agent.callscope import CallScope
from sipgw.agent.conversation.handoff import HandOffSettings, LineHandOff
from sipgw.agent.conversation.handover import HandOver, PreparedLine
from sipgw.agent.services.stt.base import SpeechToText

__all__ = ["CallHandOff"]


class CallHandOff(LineHandOff):
    """The assistant's hand-offs (see the module docstring).

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

    __slots__ = ("_conversation", "_speaker", "_stt", "meanwhile", "settings")

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
        super().__init__(scope, call, settings, away, made)
        self.settings = settings
        self.meanwhile: list[str] = []
        """The caller's finished turns heard while the hand-off was pending."""
        self._speaker = speaker
        self._conversation = conversation
        self._stt = stt

    def _hand_over(self, line: str, summary: str) -> HandOver:
        self.meanwhile.clear()
        # the target keeps the session when the lines' settings agree
        return dataclasses.replace(super()._hand_over(line, summary), stt=self._stt)

    def _refused(self, why: str) -> str:
        said = " ".join(self.meanwhile)  # turns held back while it was pending
        return f"{why} (meanwhile the caller said: {said!r})" if said else why

    async def _heard(self) -> None:
        speaker = self._speaker
        reply = speaker.current
        if reply is not None:
            if reply.task is not None:
                await asyncio.wait({reply.task})
            await speaker.played(reply)

    def _switch(self, prepared: PreparedLine) -> bool:
        kept = prepared.hand_over.stt is not None
        messages = list(self._conversation.messages)
        return prepared.switch(messages, self.meanwhile if kept else ())
