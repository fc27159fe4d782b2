"""Warm (attended) transfer: the caller on hold with music, a person briefed, then joined.

When the operator chose warm transfers (``TransferSettings.mode``) and the call
can do them (its :class:`~sipgw.agent.base.CallControl` is a :class:`WarmTransferCall`:
a SIP call of the gateway), ``transfer_to_human`` becomes this, once its line
("Let me connect you with a colleague. One moment.") has been heard
(:class:`sipgw.agent.assistant.call_actions.CallActions`):

1. *Hold*: the caller hears hold music (:mod:`sipgw.agent.transfer.holdmusic`); what they say
   meanwhile is not a turn.
2. *Consult*: the gateway calls the person (:meth:`WarmTransferCall.consult`:
   the same trunk rules and dial allow-list as every call) with a
   :class:`~sipgw.agent.transfer.consult.ConsultAgent` that says the summary the assistant
   wrote and waits for 1/"yes" or 2/"no"; a voicemail that answers instead is
   known by its words or its beep and counts as no answer at once.
3. *Join* on acceptance (:meth:`WarmTransferCall.join`): REFER with Replaces
   where both phones can (RFC 5589 §7), else the gateway bridges the two calls'
   media itself; this agent's part is over then (the call ends, or its audio
   is the person's).
4. Busy, declined, no answer (a voicemail), a refusal, or a join that fails: the music stops,
   the consultation call is hung up, and the LLM is told, so the agent says so
   and offers to take a message or schedule a callback; the call goes on.

The caller hanging up meanwhile ends the consultation call too (:meth:`WarmTransfer.close`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.base import Agent, AgentFactory, CallControl
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.playout import Playout
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.services.tts.base import TextToSpeech
from sipgw.agent.transfer.consult import ConsultAgent, ConsultBrief, ConsultDecision
from sipgw.agent.transfer.holdmusic import HoldMusic, tone_pattern
from sipgw.agent.transfer.settings import JoinHow, TransferSettings
from sipgw.media.codecs.base import ULAW_8K

__all__ = [
    "CONSULT_AGENTS",
    "ConsultLeg",
    "JoinFailed",
    "LegEnded",
    "LegProgress",
    "WarmTransfer",
    "WarmTransferCall",
]

log = logging.getLogger("sipgw.agent")

CONSULT_AGENTS = AgentCapabilities(keypad=True, arrival_audio=True, hears_while_preparing=True)
"""What a consultation call's agent does: the person accepts with a key or a word, and it
hears them from the answer on, while its speech services connect (their "Hello?" may come
then)."""


@dataclass(frozen=True, slots=True)
class LegProgress:
    """A placed call on its way: its INVITE went out (``initiated``), or the far end sent
    its first provisional response (``ringing``: a 180, or a 183 and its early media)."""

    event: str
    """``initiated`` or ``ringing`` (Twilio's call progress events' names)."""
    caller: str
    """Who the call is from: its From (the URI, or the number in it)."""
    called: str
    """Whom it calls: its Request-URI."""
    status: int | None = None
    """The provisional response's status (``ringing``)."""


@dataclass(frozen=True, slots=True)
class LegEnded:
    """How a consultation call ended (or could not be placed)."""

    kind: str
    """``busy``, ``declined``, ``no-answer``, ``unreachable``, ``failed`` or ``answered``."""
    status: int | None = None
    """The SIP status, when one applies."""
    reason: str = ""
    call_id: str = ""
    """The call's SIP Call-ID ("" when no INVITE went out)."""
    custom: tuple[tuple[str, str], ...] = ()
    """The ``X-`` headers of its INVITE's final response (the 2xx, or the refusal), name
    as sent and first value."""


class ConsultLeg(Protocol):
    """The consultation call, as the agent holds it."""

    async def ended(self) -> LegEnded:
        """Wait until the call is over; how it ended."""
        ...

    def hangup(self) -> None:
        """End it (CANCEL while it rings, else BYE)."""
        ...


class JoinFailed(Exception):
    """The caller and the person could not be joined (the message says why)."""


@runtime_checkable
class WarmTransferCall(Protocol):
    """A call that can do warm transfers (the gateway's SIP calls)."""

    async def consult(self, target: str, agent: AgentFactory, ring_timeout: float) -> ConsultLeg:
        """Place the consultation call to ``target``, whose agent ``agent`` builds.

        Raises:
            DialRefused: ``target`` is not on the operator's allow-list (nothing dialled).
        """
        ...

    async def join(self, leg: ConsultLeg, how: JoinHow) -> str:
        """Join this call with the consultation call: ``refer`` or ``bridge`` (how it
        was done); this call's agent is then done.

        Raises:
            JoinFailed: neither way worked (both calls are still up).
        """
        ...


class WarmTransfer:
    """One call's warm transfers (see the module docstring).

    Args:
        scope: the call's record, clock and tasks.
        call: the call (a :class:`WarmTransferCall`).
        settings: how.
        playout: the caller's audio (the music plays under it).
        note: tells the LLM what happened (it answers the caller).
        new_tts: makes the consultation call's text-to-speech client.
        new_stt: makes its speech-to-text session.

    Attributes:
        active: the caller is on hold for a transfer (their words are no turns).
    """

    __slots__ = (
        "_call", "_detection", "_joining", "_leg", "_new_stt", "_new_tts", "_note", "_playout",
        "_scope", "_settings", "active",
    )  # fmt: skip

    def __init__(
        self,
        scope: CallScope,
        call: WarmTransferCall,
        settings: TransferSettings,
        playout: Playout,
        note: Callable[[str], object],
        new_tts: Callable[[], TextToSpeech],
        new_stt: Callable[[], SpeechToText],
        detection: AmdConfig | None = None,
    ) -> None:
        self._scope = scope
        self._detection = (
            detection  # who answers the consultation call (sipgw.agent.transfer.consult)
        )
        self._call = call
        self._settings = settings
        self._playout = playout
        self._note = note
        self._new_tts = new_tts
        self._new_stt = new_stt
        self._leg: ConsultLeg | None = None
        self._joining: float | None = None  # when the person accepted, while joining
        self.active = False

    async def run(self, target: str, summary: str) -> bool:
        """Hold, consult, join; True once joined (see the module docstring).

        Raises:
            DialRefused: ``target`` is not allowed (nothing was dialled; the caller is
                not on hold).
        """
        scope = self._scope
        started = scope.now()
        decision: asyncio.Future[ConsultDecision] = scope.loop.create_future()
        brief = ConsultBrief(self._settings.intro, summary, self._settings.prompt,
                             self._settings.answer_timeout)  # fmt: skip

        def make(call: CallControl) -> Agent:
            return ConsultAgent(call, brief, self._new_tts(), self._new_stt(), decision,
                                scope.write, self._detection)  # fmt: skip

        consult_agent = PluginFactory(make, CONSULT_AGENTS)

        self._hold(target)
        try:
            leg = self._leg = await self._call.consult(
                target, consult_agent, self._settings.ring_timeout
            )
        except DialRefused:
            self._resume()
            raise
        ended = asyncio.ensure_future(leg.ended())
        try:
            waiting: set[asyncio.Future[Any]] = {decision, ended}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            why = self._why(decision, ended)
            if not why:
                # From here the gateway has the person's call: it joins it to the caller's
                # (this agent is then closed, maybe before this returns: close() records
                # it), or hands it back.
                self._leg, self._joining = None, started
                how = await self._call.join(leg, self._settings.join)
                self._joined(how)
                return True
        except JoinFailed as exc:
            self._joining = None
            why = f"the calls could not be joined ({exc})"
        finally:
            if not ended.done():
                ended.cancel()
        leg.hangup()
        self._leg = None
        scope.write({"type": "warm_transfer", "stage": "failed", "why": why,
                     "after_ms": ms_between(scope.now(), started)})  # fmt: skip
        self._resume()
        self._note(
            f"[The transfer to a person did not go through: {why}. The caller is back with "
            "you and heard hold music meanwhile. Tell them, and offer to take a message or to "
            "schedule a callback.]"
        )
        return False

    def close(self, reason: str = "") -> None:
        """This agent is done (``reason``: why): the consultation call ends too, unless the
        two calls were joined (``bridged``, or the caller's call ended by the REFER)."""
        if self._joining is not None:
            self._joined("bridge" if reason == "bridged" else "refer")
        leg, self._leg = self._leg, None
        if leg is not None:
            leg.hangup()

    def _joined(self, how: str) -> None:
        started, self._joining = self._joining, None
        if started is not None:
            scope = self._scope
            scope.write({"type": "warm_transfer", "stage": "joined", "how": how,
                         "after_ms": ms_between(scope.now(), started)})  # fmt: skip

    # -- inside

    def _hold(self, target: str) -> None:
        self.active = True
        music = self._settings.hold_music or tone_pattern()
        self._playout.play_background(HoldMusic(music), ULAW_8K)  # converted if not the call's
        music_from = "file" if self._settings.hold_music else "built-in"
        self._scope.write(
            {"type": "warm_transfer", "stage": "hold", "target": target, "music": music_from}
        )

    def _resume(self) -> None:
        self.active = False
        self._playout.play_background(None)

    @staticmethod
    def _why(decision: asyncio.Future[ConsultDecision], ended: asyncio.Future[LegEnded]) -> str:
        """Why the transfer cannot go on ("" when the person accepted on a live call)."""
        if ended.done():
            how = ended.result()
            if how.kind == "answered":
                return "the person hung up before answering the question"
            status = f" (SIP {how.status})" if how.status else ""
            return {"busy": "the person is busy", "declined": "the person declined the call",
                    "no-answer": "nobody answered", "unreachable": "the number is unreachable",
                    }.get(how.kind, f"the call failed: {how.reason}") + status  # fmt: skip
        result = decision.result()
        if result is ConsultDecision.ACCEPTED:
            return ""
        return {ConsultDecision.DECLINED: "the person said they cannot take the call",
                ConsultDecision.NO_ANSWER: "the person answered but did not accept in time",
                ConsultDecision.HUNG_UP: "the person hung up",
                ConsultDecision.FAILED: "the person could not be told about the call",
                ConsultDecision.VOICEMAIL: "the person's voicemail answered (nobody took it)",
                }[result]  # fmt: skip
