"""What every AI agent does to its call alike: transfers, keyed digits, the call as tools see it.

:class:`CallDialing`: a transfer (SIP REFER) or keypad digits (RFC 4733) asked for by a tool,
each written to the call record (``transfer``, ``dtmf_sent``), and a refusal by the
operator's allow-list too (``dial_refused``), raised on. The assistant's
:class:`~sipgw.agent.assistant.call_actions.CallActions` and the speech-to-speech agents'
:class:`~sipgw.agent.s2s.actions.S2sActions` build on it. :class:`ToolCallContext` is the call
as tools see it (:class:`sipgw.agent.tools.registry.ToolContext`), forwarding to either
(:class:`ToolActions`).
"""

from __future__ import annotations

import weakref
from typing import Any, Literal, Protocol, TypeAlias

from sipgw.agent.base import CallControl, Direction
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.conversation.settings import AssistantSettings
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.resilience.policy import Action, Decision
from sipgw.agent.transfer.warm import WarmTransfer

__all__ = [
    "ActionKind",
    "AnswerResult",
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
