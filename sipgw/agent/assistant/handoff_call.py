"""A hand-off carried out on the assistant's call (the rules: :mod:`sipgw.agent.assistant.handoff`).

:class:`CallHandOff` runs the ``hand_off`` tool: the request is checked
(:class:`~sipgw.agent.assistant.handoff.HandOffState`), the target line looked up and its
text-to-speech connected while the tool runs (a refusal or a failure is a tool error the model tells
the caller about). Then, once the reply that asked for it has been heard, the switch: the
target's voice, prompt and tools, the conversation carried over as the target says, and
a reply of the target's model at once, so the caller hears no more silence than one
reply's first audio.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from sipgw.agent.assistant.conversation import Conversation
from sipgw.agent.assistant.handoff import (
    HandOffSettings,
    HandOffState,
    HandOffTarget,
    SwitchedTts,
    hand_off_note,
    hand_off_tool,
    handed_history,
    with_hand_off,
)
from sipgw.agent.assistant.opening import plan_opening
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.base import CallControl
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.tools.registry import Tool, ToolError
from sipgw.agent.tts.base import TextToSpeech, TtsError
from sipgw.media.codecs.base import PCM16_16K

if TYPE_CHECKING:
    from sipgw.agent.assistant.responder import Responder

__all__ = ["CallHandOff"]


class CallHandOff:
    """One call's hand-offs (see the module docstring)."""

    __slots__ = (
        "_call", "_conversation", "_responder", "_scope", "_speaker", "_tts", "settings",
        "state",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        call: CallControl,
        settings: HandOffSettings,
        tts: SwitchedTts,
        speaker: Speaker,
        conversation: Conversation,
        responder: Responder,
    ) -> None:
        self.settings = settings
        self.state = HandOffState(settings.line, settings.targets)
        self._scope = scope
        self._call = call
        self._tts = tts
        self._speaker = speaker
        self._conversation = conversation
        self._responder = responder

    def tool(self) -> Tool | None:
        """The ``hand_off`` tool for the line the caller is on now (None: it names none)."""
        targets = self.state.targets
        return hand_off_tool(targets, self.run) if targets else None

    async def run(self, line: str, summary: str) -> str:
        """The tool: check, look up, connect the target's voice; the switch comes after
        the reply.

        Raises:
            ToolError: it may not, or the line or its voice is not there.
        """
        state = self.state
        why_not = state.request(line)
        if why_not is not None:
            raise ToolError(f"cannot hand off: {why_not}")
        target = self.settings.lines.target(line)
        if target is None:
            state.cancel()
            raise ToolError(f"cannot hand off: line {line!r} is not there now")
        wide = target.new_wideband_tts if self._speaker.playout.format == PCM16_16K else None
        tts = (wide or target.new_tts)()  # an HD-voice call keeps its 16 kHz voice
        try:
            await tts.connect()
        except (TtsError, OSError) as exc:
            state.cancel()
            await tts.close()
            raise ToolError(
                f"cannot hand off: line {line}'s voice is unavailable ({exc})"
            ) from None
        except BaseException:
            state.cancel()
            await tts.close()
            raise
        scope = self._scope
        scope.write({"type": "hand_off_pending", "from": state.line, "to": line})
        scope.spawn(self._switch_after_reply(target, tts, summary))
        return f"The caller goes to line {line} after this reply. Say one short sentence at most."

    async def _switch_after_reply(
        self, target: HandOffTarget, tts: TextToSpeech, summary: str
    ) -> None:
        speaker = self._speaker
        reply = speaker.current
        try:
            if reply is not None:
                if reply.task is not None:
                    await asyncio.wait({reply.task})
                await speaker.played(reply)
        except BaseException:
            self.state.cancel()
            await tts.close()
            raise
        scope, call = self._scope, self._call
        old = self._tts.switch(tts)
        scope.spawn(old.close())
        origin, to = self.state.complete(target.targets, scope.now())
        prompt = plan_opening(
            target.settings, call.direction, call.purpose, time.time(), call.details
        ).system_prompt
        conversation = self._conversation
        messages = handed_history(
            conversation.messages, prompt, target.history, hand_off_note(origin, to, summary)
        )
        conversation.messages[:] = messages[:-1]  # the note goes in as the reply's cue
        conversation.tools = with_hand_off(target.tools, self.tool())
        answered = scope.answered_at or None
        scope.write({"type": "hand_off", "from": origin, "to": to, "history": target.history,
                     "after_answer_ms": ms_between(scope.now(), answered)})  # fmt: skip
        self._responder.reply_to_note(messages[-1]["content"])
