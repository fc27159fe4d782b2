"""A conversation's history: the messages sent to the model, always valid to send.

:class:`ChatHistory` appends what a reply said as each of its rounds ends: a round with tool
calls as the assistant message with ``tool_calls`` and one ``tool`` message per call (a
call without a result answered with an error, so no call is ever left unanswered; the
tool-result messages of docs/cloud-apis.md), a round of words as a plain assistant message;
an interrupted round keeps only the sentences already spoken. After a barge-in,
:meth:`ChatHistory.cut_to_heard` cuts a reply's assistant messages down to what the caller
heard.
"""

from __future__ import annotations

from typing import Any

from sipgw.agent.assistant.replyturn import ReplyTurn
from sipgw.agent.assistant.tool_calls import INTERRUPTED_RESULT
from sipgw.agent.assistant.transcript import TranscriptRecorder
from sipgw.agent.tools.registry import ToolResult

__all__ = ["ChatHistory"]


class ChatHistory:
    """The messages of one conversation (see the module docstring).

    Args:
        system_prompt: the first message.
        transcript: where a tool call answered here (no result) is recorded.
    """

    def __init__(self, system_prompt: str, transcript: TranscriptRecorder) -> None:
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
        self.transcript = transcript

    def round_content(self, turn: ReplyTurn, interrupted: bool) -> str:
        """The assistant text of the current round for the history."""
        if interrupted or turn.failed:
            return " ".join(turn.round_spoken)
        return "".join(turn.round_text).strip()

    def commit_tool_round(
        self, turn: ReplyTurn, *, interrupted: bool, missing: str = INTERRUPTED_RESULT
    ) -> None:
        """Append the assistant ``tool_calls`` message and every tool result."""
        message: dict[str, Any] = {"role": "assistant"}
        content = self.round_content(turn, interrupted)
        if content:
            message["content"] = content
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in turn.calls
        ]
        self.messages.append(message)
        turn.assistant_messages.append(message)
        for index, call in enumerate(turn.calls):
            result = turn.results.get(index)
            if result is None:
                self.transcript.tool(call, ToolResult(ok=False, content=missing, elapsed=0.0))
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": result.content if result is not None else missing,
                }
            )
        turn.calls.clear()
        turn.results.clear()
        turn.tasks.clear()
        turn.round_text.clear()
        turn.round_spoken.clear()

    def commit_text(self, turn: ReplyTurn, *, interrupted: bool) -> None:
        """Append the round's words as an assistant message (none: nothing)."""
        content = self.round_content(turn, interrupted)
        if content:
            message = {"role": "assistant", "content": content}
            self.messages.append(message)
            turn.assistant_messages.append(message)

    def cut_to_heard(self, turn: ReplyTurn, heard_text: str, suffix: str) -> None:
        """Keep of ``turn``'s assistant messages only ``heard_text`` (a prefix of the reply's
        spoken text): the message where hearing stopped gets ``suffix``; later ones lose
        their text: plain messages are dropped, messages with ``tool_calls`` keep their
        calls (and their tool messages stay)."""
        remaining = " ".join(heard_text.split())
        for message in list(turn.assistant_messages):
            content = " ".join(str(message.get("content") or "").split())
            if not content:
                continue
            if len(remaining) >= len(content):
                remaining = remaining[len(content) :].lstrip()
                continue
            heard, remaining = remaining.rstrip(), ""
            self._cut(turn, message, heard + suffix if heard else "")

    def _cut(self, turn: ReplyTurn, message: dict[str, Any], content: str) -> None:
        if content:
            message["content"] = content
        elif "tool_calls" in message:
            message.pop("content", None)
        else:
            turn.assistant_messages.remove(message)
            for position, candidate in enumerate(self.messages):
                if candidate is message:
                    del self.messages[position]
                    break
