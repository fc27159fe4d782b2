"""What the assistant does to the call: transfer, hang up, key digits; speak before acting.

*Speak before acting*: the tools ``transfer_to_human`` and ``end_call`` do not
act when they run. They ask for the action after the reply
(:meth:`CallActions.transfer_after_reply`, :meth:`CallActions.hangup_after_reply`),
which waits for the reply to end and for its audio to have gone out on RTP
(:meth:`sipgw.agent.assistant.speaker.Speaker.played`), so that the words of that reply,
before the tool call or after its result, are heard first. A reply that said
nothing gets the default line (``transfer_line``, ``goodbye_line``). A
barge-in cuts the line and the action happens at once; the wait is bounded by
``action_line_timeout`` from the tool call (a TTS that hangs, say). One action
at a time: the first asked for wins. Each ``action`` record says which line
was heard (``reply``, ``default``, ``none``, ``interrupted``, ``tts failed``,
``timeout``).

A transfer the allow-list refuses (:class:`sipgw.agent.dialpolicy.DialRefused`) or
the caller's phone does not accept, and one whose target does not answer
(:meth:`CallActions.on_transfer_failed`), becomes a note to the model, which
tells the caller (and offers, for a target that did not answer, to take a
message or to schedule a callback, as a warm transfer's failure does); the call
goes on. With warm transfers
(:mod:`sipgw.agent.transfer.warm`) the transfer after the line is hold, consult and
join instead of a REFER.

While the caller holds the call (:meth:`CallActions.hold`) the line cannot be
heard: the wait for it stops counting until they resume.

The gateway's own goodbye (a drain's limit, :meth:`CallActions.say_goodbye`)
is here too, and what the failure policy decides (agent/assistant/failures.py) is carried
out here (:meth:`CallActions.carry_out`): a fallback line from memory (while the
caller waits for a reply, as its filler line; after a line still playing, once it
was heard; else a line of its own), and moving on, the transfer notice then a
transfer to the human target, or the goodbye then the hang-up
(:meth:`CallActions.move_on_after` once the reply with the line was heard). A
transfer the policy asked for that fails ends with the goodbye.

What every AI agent does to its call the same way is :class:`CallDialing`:
a transfer (SIP REFER) or keypad digits (RFC 4733) asked for by a tool, each
written to the call record (``transfer``, ``dtmf_sent``), and a refusal by the
operator's allow-list too (``dial_refused``), raised on. :class:`CallActions`
(the assistant's) and :class:`sipgw.agent.s2s.actions.S2sActions` (the
speech-to-speech agent's) build on it.

:class:`ToolCallContext` is the call as tools see it
(:class:`sipgw.agent.tools.registry.ToolContext`), forwarding to either
(:class:`ToolActions`).
"""

from __future__ import annotations

import asyncio

from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.base import CallControl
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.conversation.dialing import ActionKind, CallDialing, transfer_failed_note
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.resilience.policy import Action, Decision
from sipgw.agent.transfer.warm import WarmTransfer

__all__ = [
    "CallActions",
]


class CallActions(CallDialing):
    """One call's transfers, hang-ups and keyed digits (see the module docstring).

    Attributes:
        settings: the assistant's settings (the lines and the timeout).
        warm: the warm transfer, when transfers are warm (None: a REFER).
        hanging_up: the agent hangs up once nothing more is to be said.
    """

    __slots__ = (
        "_failures", "_fillers", "_goodbye", "_held_since", "_line_wait", "_pending",
        "_responder", "_speaker", "hanging_up", "settings", "warm",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        call: CallControl,
        settings: AssistantSettings,
        speaker: Speaker,
        responder: Responder,
        fillers: Fillers,
        failures: ServiceFailures,
        warm: WarmTransfer | None = None,
    ) -> None:
        super().__init__(scope, call)
        self.settings = settings
        self._speaker = speaker
        self._responder = responder
        self._fillers = fillers
        self._failures = failures
        self.warm = warm
        self._line_wait: asyncio.Timeout | None = None
        self._held_since: float | None = None
        self._pending = False
        self.hanging_up = False
        self._goodbye: asyncio.Future[bool] | None = None

    @property
    def acting(self) -> bool:
        """A transfer or hang-up was asked for and is under way (or waits for its line)."""
        return self._pending or self.hanging_up or self._hung_up

    # -- after the reply (tools)

    def hangup_after_reply(self) -> None:
        """End the call once the current reply has been heard (tool ``end_call``)."""
        self._act_after_reply("hangup", None)

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        """Transfer once the current reply has been heard (tool ``transfer_to_human``);
        ``summary`` goes with the REFER (:meth:`sipgw.agent.base.CallControl.transfer`), and is
        what a warm transfer tells the person who takes the call."""
        self._act_after_reply("transfer", target, summary)

    def hold(self, held: bool) -> None:
        """The caller put the call on hold (or resumed it): the wait for an action's line
        pauses meanwhile."""
        now = self._scope.now()
        if held and self._held_since is None:
            self._held_since = now
            if self._line_wait is not None:
                self._line_wait.reschedule(None)
        elif not held and self._held_since is not None:
            self._held_since = None
            wait = self._line_wait
            if wait is not None:
                wait.reschedule(now + self.settings.action_line_timeout)

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
            async with asyncio.timeout_at(requested_at + self.settings.action_line_timeout) as wait:
                self._line_wait = wait
                if self._held_since is not None:
                    wait.reschedule(None)  # on hold: nothing plays, the wait stops counting
                line = await self._hear_line(kind, reply)
        except TimeoutError:
            line = "timeout"
        finally:
            self._line_wait = None
        scope = self._scope
        now = scope.now()
        scope.write({"type": "action", "action": kind, "line": line,
                     "waited_ms": ms_between(now, requested_at),
                     "after_answer_ms": ms_between(now, scope.answered_at)})  # fmt: skip
        if kind == "hangup":
            self.hang_up()
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
            if reply.heard is not None:
                return "interrupted"  # cut while the rest of it was being synthesized
        if not await self._speaker.played(reply):
            return "interrupted"
        if reply.tts_failed:
            return "tts failed"  # what arrived of it was played
        return line

    async def _transfer_now(self, target: str, summary: str) -> None:
        """The REFER (or the warm transfer); a refusal or rejection becomes a turn where
        the LLM tells the caller."""
        self._pending = False  # a failed transfer may be tried again
        reason = await self.warm_or_blind(self.warm, target, summary)
        if reason is None:
            return
        self._responder.reply_to_note(
            f"[The transfer was {reason}. Tell the caller and offer other help.]"
        )

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the caller and offer a message or a
        callback, as after a warm transfer that did not go through; stay on the line (a
        transfer the failure policy asked for ends with the goodbye)."""
        self._scope.write({"type": "transfer_failed", "status": status, "reason": reason})
        if self.policy_transfer_failed():
            self._failures.transfer_failed()
            return
        self._responder.reply_to_note(transfer_failed_note(status, reason))

    # -- the failure policy's decisions

    def carry_out(self, decision: Decision, audio: LineAudio | None) -> None:
        """Say a fallback line (:attr:`~sipgw.agent.resilience.policy.Action.SAY`), or say the
        transfer notice or goodbye and then transfer or hang up."""
        if audio is None:
            return
        if decision.action is Action.SAY:
            self._say_fallback(audio)
            return
        line = self._speaker.say_line(audio)
        self.move_on_after(line, decision)

    def _say_fallback(self, audio: LineAudio) -> None:
        speaker = self._speaker
        current, state = speaker.current, speaker.state
        if current is not None and current.kind == "reply" and state.active(current):
            self._fillers.say_line(current, audio)  # nothing if its answer is playing already
        elif state.playout.pending and current is not None:
            self._scope.spawn(self._say_after(current, audio))  # after the line now playing
        else:
            speaker.say_line(audio)

    async def _say_after(self, before: Reply, audio: LineAudio) -> None:
        await self._speaker.played(before)
        speaker = self._speaker
        if not self._scope.closed and speaker.current is before:
            speaker.say_line(audio)

    def move_on_after(self, reply: Reply, decision: Decision) -> None:
        """Transfer to the human target, or hang up (``decision.action``), once ``reply``
        (which says the transfer notice or the goodbye) has been heard."""
        self._scope.spawn(self._move_on(reply, decision))

    async def _move_on(self, reply: Reply, decision: Decision) -> None:
        if reply.task is not None:
            await asyncio.wait({reply.task})
        await self._speaker.played(reply)
        if not await self.move_on(decision, self.settings.builtin_tools.transfer_target):
            self._failures.transfer_failed()

    def hang_up_now(self) -> None:
        """End the call at once, whatever is playing (answering-machine detection)."""
        self.hang_up()

    def hang_up_when_quiet(self) -> None:
        """Hang up once nothing more is said or queued (see :meth:`hang_up_if_quiet`)."""
        self.hanging_up = True

    def hang_up_if_quiet(self) -> None:
        """At a tick without agent audio: hang up if asked to and nothing is left to say."""
        if not self.hanging_up or self._hung_up:
            return
        state = self._speaker.state
        if not state.active(state.reply) and not state.playout.pending:
            self.hang_up()

    # -- the drain's goodbye

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
