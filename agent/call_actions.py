"""What the assistant does to the call: transfer, hang up, key digits; speak before acting.

*Speak before acting*: the tools ``transfer_to_human`` and ``end_call`` do not
act when they run. They ask for the action after the reply
(:meth:`CallActions.transfer_after_reply`, :meth:`CallActions.hangup_after_reply`),
which waits for the reply to end and for its audio to have gone out on RTP
(:meth:`agent.speaker.Speaker.played`), so that the words of that reply,
before the tool call or after its result, are heard first. A reply that said
nothing gets the default line (``transfer_line``, ``goodbye_line``). A
barge-in cuts the line and the action happens at once; the wait is bounded by
``action_line_timeout`` from the tool call (a TTS that hangs, say). One action
at a time: the first asked for wins. Each ``action`` record says which line
was heard (``reply``, ``default``, ``none``, ``interrupted``, ``tts failed``,
``timeout``).

A transfer the allow-list refuses (:class:`agent.dialpolicy.DialRefused`) or
the caller's phone does not accept, and one whose target does not answer
(:meth:`CallActions.on_transfer_failed`), becomes a note to the model, which
tells the caller; the call goes on.

The gateway's own goodbye (a drain's limit, :meth:`CallActions.say_goodbye`)
and the hang-up after speech-to-text failed
(:meth:`CallActions.hang_up_when_quiet`) are here too.

:class:`ToolCallContext` is the call as tools see it
(:class:`agent.tools.registry.ToolContext`).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Literal, TypeAlias

from agent.base import CallControl
from agent.callscope import CallScope, ms_between
from agent.dialpolicy import DialRefused
from agent.reply import Reply
from agent.responder import Responder
from agent.settings import AssistantSettings
from agent.speaker import Speaker

__all__ = ["ActionKind", "CallActions", "ToolCallContext"]

ActionKind: TypeAlias = Literal["hangup", "transfer"]
"""An action that waits for its line."""


class CallActions:
    """One call's transfers, hang-ups and keyed digits (see the module docstring).

    Attributes:
        call: the call.
        settings: the assistant's settings (the lines and the timeout).
        hanging_up: the agent hangs up once nothing more is to be said.
    """

    __slots__ = (
        "_goodbye", "_hung_up", "_pending", "_responder", "_scope", "_speaker", "call",
        "hanging_up", "settings", "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        call: CallControl,
        settings: AssistantSettings,
        speaker: Speaker,
        responder: Responder,
    ) -> None:
        self._scope = scope
        self.call = call
        self.settings = settings
        self._speaker = speaker
        self._responder = responder
        self._pending = False
        self._hung_up = False
        self.hanging_up = False
        self._goodbye: asyncio.Future[bool] | None = None

    # -- at once (tools)

    async def transfer(self, target: str, summary: str = "") -> bool:
        """Transfer the caller now (SIP REFER, with ``summary`` for the person who takes
        the call); a refusal is recorded and raised."""
        try:
            accepted = await self.call.transfer(target, summary)
        except DialRefused as exc:
            self._record_refusal(exc)
            raise
        self._scope.write({"type": "transfer", "target": target, "accepted": accepted})
        return accepted

    def send_dtmf(self, digits: str) -> None:
        """Key digits to the other party (a tool's ``ctx.send_dtmf``); refusals as above."""
        try:
            self.call.send_dtmf(digits)
        except DialRefused as exc:
            self._record_refusal(exc)
            raise
        self._scope.write({"type": "dtmf_sent", "digits": digits})

    def _record_refusal(self, exc: DialRefused) -> None:
        self._scope.write(
            {"type": "dial_refused", "action": exc.action, "target": exc.target,
             "reason": exc.reason}
        )  # fmt: skip

    # -- after the reply (tools)

    def hangup_after_reply(self) -> None:
        """End the call once the current reply has been heard (tool ``end_call``)."""
        self._act_after_reply("hangup", None)

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        """Transfer once the current reply has been heard (tool ``transfer_to_human``);
        ``summary`` goes with the REFER (:meth:`agent.base.CallControl.transfer`)."""
        self._act_after_reply("transfer", target, summary)

    def _act_after_reply(self, kind: ActionKind, target: str | None, summary: str = "") -> None:
        if self._pending:
            return  # one transfer or hang-up at a time: the first asked for wins
        self._pending = True
        scope = self._scope
        requested_at = scope.now()
        scope.write({"type": "action_pending", "action": kind, "target": target})
        reply = self._speaker.current
        scope.spawn(self._act_after_line(kind, target, summary, reply, requested_at))

    async def _act_after_line(
        self,
        kind: ActionKind,
        target: str | None,
        summary: str,
        reply: Reply | None,
        requested_at: float,
    ) -> None:
        """Wait (bounded) until the reply's words, or the default line, were heard; then act."""
        try:
            async with asyncio.timeout_at(requested_at + self.settings.action_line_timeout):
                line = await self._hear_line(kind, reply)
        except TimeoutError:
            line = "timeout"
        scope = self._scope
        now = scope.now()
        scope.write({"type": "action", "action": kind, "line": line,
                     "waited_ms": ms_between(now, requested_at),
                     "after_answer_ms": ms_between(now, scope.answered_at)})  # fmt: skip
        if kind == "hangup":
            self._hang_up()
        elif target is not None:
            await self._transfer_now(target, summary)

    async def _hear_line(self, kind: ActionKind, reply: Reply | None) -> str:
        """Wait until the words before the action have played; returns which they were."""
        if reply is not None and reply.task is not None:
            await asyncio.wait({reply.task})
        if reply is not None and reply.heard is not None:
            return "interrupted"  # a barge-in cut the reply: act as asked
        if reply is not None and reply.text.strip():
            line = "reply"
        else:
            text = self.settings.goodbye_line if kind == "hangup" else self.settings.transfer_line
            if not text:
                return "none"
            reply = self._speaker.say(text, "notice")
            line = "default"
            if reply.task is not None:
                await asyncio.wait({reply.task})
        if not await self._speaker.played(reply):
            return "interrupted"
        if reply.tts_failed:
            return "tts failed"  # what arrived of it was played
        return line

    async def _transfer_now(self, target: str, summary: str) -> None:
        """The REFER; a refusal or rejection becomes a turn where the LLM tells the caller."""
        self._pending = False  # a failed transfer may be tried again
        try:
            accepted = await self.transfer(target, summary)
        except DialRefused as exc:
            reason = f"refused ({exc.reason})"
        else:
            if accepted:
                return
            reason = "not accepted by the caller's phone"
        self._responder.reply_to_note(
            f"[The transfer was {reason}. Tell the caller and offer other help.]"
        )

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the caller, stay on the line."""
        self._scope.write({"type": "transfer_failed", "status": status, "reason": reason})
        self._responder.reply_to_note(
            f"[The transfer failed: {status} {reason}. Tell the caller and offer other help.]"
        )

    # -- hanging up

    def hang_up_when_quiet(self) -> None:
        """Hang up once nothing more is said or queued (see :meth:`hang_up_if_quiet`)."""
        self.hanging_up = True

    def hang_up_if_quiet(self) -> None:
        """At a tick without agent audio: hang up if asked to and nothing is left to say."""
        if not self.hanging_up or self._hung_up:
            return
        state = self._speaker.state
        if not state.active(state.reply) and not state.playout.pending:
            self._hang_up()

    def _hang_up(self) -> None:
        if not self._hung_up:
            self._hung_up = True
            self._scope.write({"type": "hangup", "by": "agent"})
            self.call.hangup()

    async def say_goodbye(self, text: str) -> None:
        """Speak ``text`` (cutting off whatever is being said); return once it has played
        out (or was cut off, or the call ended)."""
        scope = self._scope
        if scope.closed:
            return
        scope.write({"type": "goodbye", "text": text})
        reply = self._speaker.say(text, "goodbye")
        played: asyncio.Future[bool] = scope.loop.create_future()
        self._goodbye = played  # close() resolves it too

        def resolve(complete: bool) -> None:
            if not played.done():
                played.set_result(complete)

        self._speaker.playout.when_played(reply.tts.id, resolve)
        await played

    def close(self) -> None:
        """The call ended: a goodbye still waiting returns."""
        if self._goodbye is not None and not self._goodbye.done():
            self._goodbye.set_result(False)


class ToolCallContext:
    """The call as tools see it (:class:`agent.tools.registry.ToolContext`).

    It holds the call's :class:`CallActions` weakly (:meth:`bind`): the actions
    reach the conversation that holds this context, and a strong reference
    back would make a cycle that outlives the call.
    """

    def __init__(self, settings: AssistantSettings) -> None:
        self._settings = settings
        self._actions: weakref.ref[CallActions] | None = None

    def bind(self, actions: CallActions) -> None:
        """Act through ``actions`` (the call's, once built)."""
        self._actions = weakref.ref(actions)

    @property
    def _call_actions(self) -> CallActions:
        actions = self._actions() if self._actions is not None else None
        if actions is None:
            raise RuntimeError("the call has ended")
        return actions

    @property
    def call_id(self) -> str:
        """The SIP Call-ID."""
        return self._call_actions.call.call_id

    @property
    def caller(self) -> str:
        """The other party: the From of an inbound call, the To of one we placed."""
        call = self._call_actions.call
        return call.called if call.direction == "outbound" else call.caller

    @property
    def settings(self) -> AssistantSettings:
        """The assistant's settings (read-only)."""
        return self._settings

    async def transfer(self, target: str, summary: str = "") -> bool:
        """Transfer the caller now (see :meth:`CallActions.transfer`)."""
        return await self._call_actions.transfer(target, summary)

    def send_dtmf(self, digits: str) -> None:
        """Key digits to the other party (see :meth:`CallActions.send_dtmf`)."""
        self._call_actions.send_dtmf(digits)

    def hangup_after_reply(self) -> None:
        """End the call once the current reply has been heard."""
        self._call_actions.hangup_after_reply()

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        """Transfer once the current reply has been heard."""
        self._call_actions.transfer_after_reply(target, summary)
