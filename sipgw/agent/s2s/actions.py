"""What the speech-to-speech agent does to the call: transfer, hang up, key digits, say goodbye.

*Speak before acting*: ``transfer_to_human`` and ``end_call`` do not act when
the tool runs: they ask :class:`S2sActions` to act after the words around the
tool call. With a speech-to-speech model those are the live replies when the
tool ran (the reply that called it may have said "let me connect you") and
the reply that answers the tool's result ("connecting you now"), which starts
once the result is back. So the action waits for the earlier replies to end,
then at most :data:`REPLY_START_WAIT` for the next one to start, then until
all their audio has gone out on RTP; then it acts. A barge-in cuts the wait
(act at once, as the assistant does), and the whole wait is bounded by
``action_line_timeout`` from the tool call. A transfer that is refused or not
accepted, and one whose target does not answer, is told to the model, which
tells the caller.

Keypad input reaches the model as text (:meth:`S2sActions.caller_keyed`), and
the gateway's own goodbye (a drain's limit) is spoken by the model, asked to
say exactly that line (:meth:`S2sActions.say_goodbye`).

What the failure policy decides (:class:`sipgw.agent.resilience.watch.FailureWatch`)
is carried out here (:meth:`S2sActions.carry_out`): its line is played from
memory after what is queued (the model's voice from the line cache, else the
shipped recording; the model is not asked, it may be what failed), then a
transfer to the human target or the hang-up. A transfer the policy asked for
that fails ends with the goodbye. "One moment" is the waiting caller's filler, as
in the pipeline: not said when the answer's audio is there already, and what is
left of it dropped (whole frames) when the answer's audio comes
(:meth:`S2sActions.answer_arrived`).

Transfers, keyed digits and their refusals are recorded as for the assistant
(:class:`sipgw.agent.assistant.call_actions.CallDialing`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from sipgw.agent.base import CallControl
from sipgw.agent.callscope import ms_between
from sipgw.agent.conversation.dialing import ActionKind, CallDialing, transfer_failed_note
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.playout import played
from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.resilience.lines import FallbackLine
from sipgw.agent.resilience.policy import Action, Decision, TransferFailed
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.replies import Reply, Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.transfer.warm import WarmTransfer
from sipgw.media.codecs import ULAW_8K

__all__ = ["DTMF_TEMPLATE", "GOODBYE_INSTRUCTIONS", "REPLY_START_WAIT", "S2sActions"]

REPLY_START_WAIT: Final = 3.0
"""Seconds the action waits for the model's reply to the tool result to start."""
DTMF_TEMPLATE: Final = "[The caller pressed keypad keys: {digits}]"
GOODBYE_INSTRUCTIONS: Final = 'Say exactly this to the caller and nothing else: "{text}"'


@dataclass(eq=False)
class _Pending:
    kind: ActionKind
    target: str | None
    summary: str
    requested_at: float
    before: list[Reply]
    next_reply: asyncio.Future[Reply | None]
    interrupted: bool = False


class S2sActions(CallDialing):
    """One speech-to-speech call's transfers, hang-ups, digits and goodbye (see the
    module docstring).

    Args:
        scope: the call's record, clock, tasks and session.
        call: the call.
        settings: the lines' timeout and the keypad's.
        speaking: the live replies and the playout.
    """

    __slots__ = (
        "_goodbye", "_goodbye_reply", "_held", "_held_left", "_hold_lines", "_line_wait",
        "_pending", "_speaking", "_watch", "settings", "warm",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        call: CallControl,
        settings: AssistantSettings,
        speaking: Speaking,
        watch: FailureWatch,
    ) -> None:
        super().__init__(scope, call)
        self._scope: SessionScope = scope
        self.settings = settings
        self._speaking = speaking
        self._watch = watch
        self._pending: _Pending | None = None
        self._goodbye: asyncio.Future[bool] | None = None
        self._goodbye_reply: Reply | None = None
        self._hold_lines: list[Reply] = []
        self.warm: WarmTransfer | None = None
        """The warm transfer, when transfers are warm (None: a REFER); set by the agent."""
        self._line_wait: asyncio.Timeout | None = None
        """The running wait of a transfer or hang-up for its line (its deadline)."""
        self._held = False
        """The caller holds the call."""
        self._held_left: float | None = None
        """While the caller holds the call: what was left of that wait."""

    @property
    def acting(self) -> bool:
        """A transfer or hang-up was asked for and is under way (or waits for its line), or
        the call was hung up."""
        return self._pending is not None or self._hung_up or self.transferring

    @property
    def transferring(self) -> bool:
        """The caller is on hold for a warm transfer (their words are no turns)."""
        return self.warm is not None and self.warm.active

    # -- after the reply (tools)

    def hold(self, held: bool) -> None:
        """The caller held the call (nothing of the line can be heard meanwhile: the wait of
        a transfer or hang-up for its line stops) or resumed it (it goes on from where it
        was)."""
        if held == self._held:
            return
        self._held = held
        wait = self._line_wait
        if wait is None:
            return
        now = self._scope.now()
        if held:
            when = wait.when()
            self._held_left = None if when is None else max(0.0, when - now)
            wait.reschedule(None)
        else:
            left, self._held_left = self._held_left, None
            if left is not None:
                wait.reschedule(now + left)

    def hangup_after_reply(self) -> None:
        """End the call once the words around the tool call have been heard (``end_call``)."""
        self._request("hangup", None)

    def transfer_after_reply(self, target: str, summary: str = "") -> None:
        """Transfer once the words around the tool call have been heard (``transfer_to_human``);
        ``summary`` goes with the REFER (:meth:`sipgw.agent.base.CallControl.transfer`)."""
        self._request("transfer", target, summary)

    def _request(self, kind: ActionKind, target: str | None, summary: str = "") -> None:
        if self._pending is not None:
            return  # one transfer or hang-up at a time: the first asked for wins
        scope = self._scope
        self._speaking.prune()
        pending = _Pending(
            kind, target, summary, scope.now(), list(self._speaking.live),
            scope.loop.create_future(),
        )  # fmt: skip
        self._pending = pending
        scope.write({"type": "action_pending", "action": kind, "target": target})
        scope.spawn(self._act(pending))

    def reply_started(self, reply: Reply) -> None:
        """The model started a reply (the one answering the tool's result, or the goodbye)."""
        pending = self._pending
        if pending is not None and not pending.next_reply.done():
            pending.next_reply.set_result(reply)
        if self._goodbye is not None and self._goodbye_reply is None:
            self._goodbye_reply = reply
            self._scope.spawn(self._goodbye_heard(self._goodbye, reply))

    def barged_in(self) -> None:
        """The caller cut the line off: act at once."""
        pending = self._pending
        if pending is not None:
            pending.interrupted = True
            if not pending.next_reply.done():
                pending.next_reply.set_result(None)

    async def _act(self, pending: _Pending) -> None:
        scope = self._scope
        line = "none"
        try:
            deadline = pending.requested_at + self.settings.action_line_timeout
            async with asyncio.timeout_at(deadline) as wait:
                self._line_wait = wait
                if self._held:  # asked for while held: the wait counts from the resume
                    self._held_left = max(0.0, deadline - scope.now())
                    wait.reschedule(None)
                for reply in pending.before:
                    if reply.finished is not None:
                        await reply.finished
                done, _ = await asyncio.wait({pending.next_reply}, timeout=REPLY_START_WAIT)
                following = pending.next_reply.result() if done else None
                replies = [*pending.before, *([following] if following is not None else [])]
                if following is not None and following.finished is not None:
                    await following.finished
                for reply in replies:
                    await self._played(reply)
                if any(reply.first_audio_at is not None for reply in replies):
                    line = "reply"
        except TimeoutError:
            line = "timeout"
        finally:
            self._line_wait = None
        if pending.interrupted:
            line = "interrupted"
        now = scope.now()
        scope.write(
            {"type": "action", "action": pending.kind, "line": line,
             "waited_ms": ms_between(now, pending.requested_at),
             "after_answer_ms": ms_between(now, scope.answered_at or None)}
        )  # fmt: skip
        self._pending = None  # a failed transfer may be asked for again
        if pending.kind == "hangup":
            self.hang_up()
        elif pending.target is not None:
            await self._transfer_after_line(pending.target, pending.summary)

    async def _played(self, reply: Reply) -> bool:
        """Wait until the reply's audio has all gone out (True) or was dropped (False)."""
        return await played(self._speaking.playout, reply.id)

    async def _transfer_after_line(self, target: str, summary: str) -> None:
        """The REFER, or the warm transfer (:mod:`sipgw.agent.transfer.warm`: it tells the
        model itself when the person does not take the call); a refusal or rejection is
        told to the model, which tells the caller."""
        reason = await self.warm_or_blind(self.warm, target, summary)
        if reason is not None:
            self.tell_model(f"[The transfer was {reason}. Tell the caller and offer other help.]")

    def on_transfer_failed(self, status: int, reason: str) -> None:
        """The target did not answer the transfer: tell the model, which offers a message or
        a callback as the assistant does; stay on the line (a transfer the failure policy
        asked for ends with the goodbye)."""
        self._scope.write({"type": "transfer_failed", "status": status, "reason": reason})
        if self.policy_transfer_failed():
            self._watch.report_and_carry_out(TransferFailed())
            return
        self.tell_model(transfer_failed_note(status, reason))

    # -- the failure policy's decisions

    def carry_out(self, decision: Decision, audio: LineAudio | None) -> None:
        """Play the decision's line from memory (after what is queued); then transfer to
        the human target or hang up, if the decision moves the call on."""
        if audio is None:
            return
        filler = decision.action is Action.SAY and audio.line is FallbackLine.ONE_MOMENT
        if filler and self._answer_queued():
            return  # the answer is about to play: no "one moment" after it
        line = self._play_line(audio)
        if filler:
            self._hold_lines.append(line)
        if decision.action in (Action.TRANSFER, Action.GOODBYE):
            self._scope.spawn(self._move_on(line, decision))

    def answer_arrived(self) -> None:
        """A model reply's first audio came: "one moment" stops where it is (whole frames)."""
        lines, self._hold_lines = self._hold_lines, []
        playout = self._speaking.playout
        for line in lines:
            if not playout.finished(line.id):
                playout.drop(line.id)
                self._scope.write({"type": "filler_stopped", "line": line.line, "cut": True})

    def _answer_queued(self) -> bool:
        """A model reply's audio is queued or playing."""
        self._speaking.prune()
        return any(r.line is None and r.first_audio_at is not None for r in self._speaking.live)

    def _play_line(self, audio: LineAudio) -> Reply:
        scope, speaking = self._scope, self._speaking
        reply = Reply(f"line-{audio.line.value}-{scope.now():.3f}", 0, scope.now(), None,
                      kind="line", text=audio.text, done=True, status="completed",
                      line=audio.line.value,
                      finished=scope.loop.create_future())  # fmt: skip
        reply.finished.set_result(None)  # type: ignore[union-attr]  # made just above
        reply.first_audio_at = scope.now()
        reply.received_ms = len(audio.frames) * 20
        speaking.add(reply)
        playout = speaking.playout
        playout.push_audio(reply.id, b"".join(audio.frames), format=ULAW_8K)  # converted if HD
        playout.finish(reply.id)
        scope.write({"type": "assistant", "text": audio.text, "kind": "line",
                     "line": audio.line.value, "source": audio.source})  # fmt: skip
        return reply

    async def _move_on(self, line: Reply, decision: Decision) -> None:
        await self._played(line)
        if not await self.move_on(decision, self.settings.builtin_tools.transfer_target):
            self._watch.report_and_carry_out(TransferFailed())

    # -- keypad

    def caller_keyed(self, digits: str) -> None:
        """Keypad input (:class:`sipgw.agent.conversation.keypad.Keypad`): to the model as text."""
        self._scope.write({"type": "dtmf", "digits": digits})
        self.tell_model(DTMF_TEMPLATE.format(digits=" ".join(digits)))

    def tell_model(self, text: str) -> None:
        """Something from the caller's side, as text the model answers."""
        if not self._scope.closed:
            self._scope.session.add_caller_text(text)

    # -- the gateway's goodbye

    async def say_goodbye(self, text: str) -> None:
        """Have the model say ``text`` (the agent has cut what it said); return once it
        was heard (or cut off, or the call ended)."""
        scope = self._scope
        if scope.closed:
            return
        scope.write({"type": "goodbye", "text": text})
        played = self._goodbye = scope.loop.create_future()
        self._goodbye_reply = None
        scope.session.request_reply(GOODBYE_INSTRUCTIONS.format(text=text))
        await played

    async def _goodbye_heard(self, played: asyncio.Future[bool], reply: Reply) -> None:
        if reply.finished is not None:
            await reply.finished
        complete = await self._played(reply)
        if not played.done():
            played.set_result(complete)

    def close(self, reason: str = "") -> None:
        """The call ended (``reason``): a goodbye still waiting returns; a consultation call
        ends too, unless the two calls were joined."""
        if self.warm is not None:
            self.warm.close(reason)
        if self._goodbye is not None and not self._goodbye.done():
            self._goodbye.set_result(False)
