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
import weakref
from typing import Any, Literal, Protocol, TypeAlias

from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.fillers import Fillers
from sipgw.agent.assistant.reply import Reply
from sipgw.agent.assistant.responder import Responder
from sipgw.agent.assistant.settings import AssistantSettings
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.base import CallControl, Direction
from sipgw.agent.conversation.scope import CallScope, ms_between
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.resilience.policy import Action, Decision
from sipgw.agent.transfer.warm import WarmTransfer

__all__ = [
    "ActionKind",
    "CallActions",
    "CallDialing",
    "ToolActions",
    "ToolCallContext",
    "transfer_failed_note",
]

ActionKind: TypeAlias = Literal["hangup", "transfer"]
"""An action that waits for its line."""


class AnswerResult(Protocol):
    """Who answered an outbound call (:class:`sipgw.agent.assistant.answering.Answering`)."""

    def result(self) -> dict[str, Any]:
        """The detection's result so far."""
        ...


def transfer_failed_note(status: int, reason: str) -> str:
    """The note that tells the model a transfer's target did not answer (the assistant's
    and the speech-to-speech agents')."""
    return (
        f"[The transfer failed: {status} {reason}. The caller is still with you. Tell them, "
        "and offer to take a message or to schedule a callback.]"
    )


class CallDialing:
    """A call's transfers and keyed digits, each in the call record (see the module docstring).

    Attributes:
        call: the call.
    """

    __slots__ = ("_hung_up", "_policy_transfer", "_scope", "call", "__weakref__")

    def __init__(self, scope: CallScope, call: CallControl) -> None:
        self._scope = scope
        self.call = call
        self._hung_up = False
        self._policy_transfer = False

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

    async def transfer_or_why_not(self, target: str, summary: str = "") -> str | None:
        """Transfer now; None once the caller's phone accepted it, else why not (for the
        model, which tells the caller)."""
        try:
            accepted = await self.transfer(target, summary)
        except DialRefused as exc:
            return f"refused ({exc.reason})"
        return None if accepted else "not accepted by the caller's phone"

    async def warm_or_blind(
        self, warm: WarmTransfer | None, target: str, summary: str = ""
    ) -> str | None:
        """The warm transfer when transfers are warm (a person who does not take the call
        is told to the model by it), else the REFER; None, or why the transfer could not
        even start (for the model, which tells the caller)."""
        if warm is None:
            return await self.transfer_or_why_not(target, summary)
        try:
            await warm.run(target, summary)
        except DialRefused as exc:
            self._record_refusal(exc)
            return f"refused ({exc.reason})"
        return None

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

    def hang_up(self, reason: str = "") -> None:
        """End the call now (once), recorded as the agent's hang-up (with ``reason``, e.g.
        ``idle``: agent/assistant/idle_watch.py)."""
        if not self._hung_up:
            self._hung_up = True
            record = {"type": "hangup", "by": "agent"}
            self._scope.write({**record, "reason": reason} if reason else record)
            self.call.hangup()

    async def move_on(self, decision: Decision, target: str | None) -> bool:
        """The failure policy moves the call on (its line was heard): a transfer to
        ``target``, or the hang-up (a goodbye, or no target). False when the transfer
        failed at once (the policy's goodbye follows)."""
        scope = self._scope
        hang_up = decision.action is Action.GOODBYE or target is None
        answered = scope.answered_at or None
        scope.write({"type": "action", "action": "hangup" if hang_up else "transfer",
                     "line": "policy", "decision": decision.name,
                     "after_answer_ms": ms_between(scope.now(), answered)})  # fmt: skip
        if hang_up or target is None:
            self.hang_up()
            return True
        self._policy_transfer = True
        if await self.transfer_or_why_not(target) is None:
            return True
        self._policy_transfer = False
        return False

    def policy_transfer_failed(self) -> bool:
        """The target did not answer: True when the failure policy had asked for that
        transfer (then its goodbye follows, not a note to the model)."""
        asked, self._policy_transfer = self._policy_transfer, False
        return asked


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


class ToolActions(Protocol):
    """What tools reach of an agent's call actions (:class:`CallActions`, or the
    speech-to-speech agent's :class:`sipgw.agent.s2s.actions.S2sActions`)."""

    @property
    def call(self) -> CallControl:
        """The call."""
        ...

    async def transfer(self, target: str, summary: str = "") -> bool:
        """Transfer now (SIP REFER, with ``summary``); True when the phone accepted it."""
        ...

    def send_dtmf(self, digits: str) -> None:
        """Key digits to the other party."""
        ...

    def hangup_after_reply(self) -> None:
        """Hang up once the current reply has been heard."""
        ...

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        """Transfer once the current reply has been heard."""
        ...


class ToolCallContext:
    """The call as tools see it (:class:`sipgw.agent.tools.registry.ToolContext`).

    It holds the call's actions weakly (:meth:`bind`): the actions reach what
    holds this context (the conversation, the tool runner), and a strong
    reference back would make a cycle that outlives the call.
    """

    def __init__(self, settings: AssistantSettings) -> None:
        self._settings = settings
        self._actions: weakref.ref[ToolActions] | None = None
        self._answering: weakref.ref[AnswerResult] | None = None

    def bind(self, actions: ToolActions, answering: AnswerResult | None = None) -> None:
        """Act through ``actions`` (the call's, once built); ``answering`` is its
        answering-machine detection, if it runs."""
        self._actions = weakref.ref(actions)
        self._answering = weakref.ref(answering) if answering is not None else None

    @property
    def _call_actions(self) -> ToolActions:
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
    def caller_number(self) -> str:
        """The other party's number as the gateway read it (see :attr:`caller`)."""
        call = self._call_actions.call
        details = call.details
        return details.called_number if call.direction == "outbound" else details.caller_number

    @property
    def direction(self) -> Direction:
        """``outbound`` on a call the gateway placed (a callback), else ``inbound``."""
        return self._call_actions.call.direction

    @property
    def verified_caller(self) -> str:
        """The other party's number as far as it is proven ("" when not)."""
        return self._call_actions.call.verified_caller

    @property
    def settings(self) -> AssistantSettings:
        """The assistant's settings (read-only)."""
        return self._settings

    def answered_by(self) -> dict[str, Any]:
        """Who answered this call, as answering-machine detection says (see
        :meth:`sipgw.agent.assistant.answering.Answering.result`); ``{"mode": "off"}`` without
        it."""
        self._call_actions  # noqa: B018 - raises once the call has ended
        answering = self._answering() if self._answering is not None else None
        return answering.result() if answering is not None else {"mode": "off"}

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
        """Transfer once the current reply has been heard (``summary``: for the person a
        warm transfer calls)."""
        self._call_actions.transfer_after_reply(target, summary)
