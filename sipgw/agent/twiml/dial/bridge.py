"""``<Dial>`` bridged: the gateway places the second leg and relays the two legs' audio itself.

Theory of operation
-------------------
The TwiML agent (:mod:`sipgw.agent.twiml.agent`) stays the caller's agent throughout. A
:class:`BridgedDial` carries out one ``<Dial>``: for each target in turn it asks the call to
place a second leg (:class:`LegPlacingCall`; the gateway's SIP calls judge the target by
the dial allow-list, send it by the outbound rules, to the trunk or through the account,
and CANCEL it after ``timeout``), whose agent is a :class:`DialedLeg`, until one answers.
A :class:`DialRelay` joins the caller with that leg:

- While the target rings the caller hears ring tone
  (:func:`~sipgw.agent.twiml.dial.rules.ringback_frame`), or, once the target sends early
  media (a 183 with SDP, then audio: its own ringback, an announcement), that audio.
- Once it answers, at each tick the caller's 20 ms (the playout of the caller's jitter
  buffer: the agent's ``on_caller_frame``) goes into a
  :class:`~sipgw.media.bridge.FrameBridge` and the called party's comes out for the caller
  (``next_frame``); the leg does the same through its own jitter buffer. Keys cross as
  RFC 4733, each judged by the receiving call's dial allow-list as every key the gateway
  sends is (as the warm transfer's bridge passes them); with ``hangupOnStar`` the caller's
  ``*`` ends the leg instead. A side on hold sends its hold music across and takes nothing
  meanwhile: the bridge keeps three frames each way and drops the oldest.
- A target with a screening ``url`` (``<Number url>``, ``<Sip url>``) is not bridged at its
  answer: that TwiML runs for the called party alone first (:mod:`sipgw.agent.twiml.dial.screening`,
  the TwiML agent's own interpreter on the leg's audio and keys) while the caller keeps
  hearing ring tone; the document running out bridges the two, a ``<Hangup>`` in it (or the
  called party hanging up) refuses the bridge: ``DialCallStatus`` ``no-answer``, the next
  target rings. The leg's progress (its INVITE out, its first 180/183, its answer, its end)
  goes to the noun's ``statusCallback`` (:mod:`sipgw.agent.twiml.dial.legstatus`).
- It is over when the called party hangs up, ``timeLimit`` passes, the caller presses
  ``*`` (``hangupOnStar``), or the caller hangs up (the leg is hung up too: CANCEL while it
  rings, else BYE). :meth:`BridgedDial.run` then says how (:class:`DialResult`); the TwiML
  goes on after the ``<Dial>``, or with its ``action``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from sipgw.agent.base import Agent, AgentFactory, CallControl, Referral
from sipgw.agent.capabilities import AgentCapabilities, PluginFactory
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.transfer.warm import ConsultLeg, LegEnded, LegProgress
from sipgw.agent.twiml.dial.audioformat import WidenedBridge, widen
from sipgw.agent.twiml.dial.legamd import LegDetection
from sipgw.agent.twiml.dial.legstatus import LegStatus, leg_call_status
from sipgw.agent.twiml.dial.rules import (
    DialCallStatus,
    DialResult,
    dial_status,
    leg_login,
    ringback_frame,
    sip_fields,
)
from sipgw.agent.twiml.dial.screening import LegHooks, ScreeningLeg
from sipgw.agent.twiml.recording import BridgeRecorder
from sipgw.agent.twiml.webhook import new_sid
from sipgw.media.bridge import FrameBridge
from sipgw.media.codecs import PCM16_16K, ULAW_8K
from sipgw.twilio.document import Dial, DialTarget

__all__ = [
    "DIALED_LEG", "SCREENED_LEG", "BridgedDial", "DialRelay", "DialedLeg", "LegPlacingCall",
    "RelayedDial", "leg_capabilities",
]  # fmt: skip

log = logging.getLogger("sipgw.agent")

BRIDGE_AUDIO = frozenset({ULAW_8K, PCM16_16K})
"""The formats a bridged ``<Dial>``'s ends take (:mod:`sipgw.agent.twiml.dial.audioformat`)."""
DIALED_LEG = AgentCapabilities(
    amd=False, keypad=True, paid=False, early_media=True, audio=BRIDGE_AUDIO
)
"""What a second leg's agent takes: the called party's keys (they cross to the caller), and
its early media (relayed to the caller in place of the ring tone)."""
SCREENED_LEG = AgentCapabilities(
    amd=False, keypad=True, paid=False, early_media=True, arrival_audio=True, audio=BRIDGE_AUDIO
)
"""A leg with a screening ``url``: also the called party's audio as it arrives (a
``<Gather input="speech">`` of the screening TwiML listens to it)."""


def leg_capabilities(target: DialTarget) -> AgentCapabilities:
    """What the agent of ``target``'s leg takes (:data:`SCREENED_LEG` when it is screened)."""
    return SCREENED_LEG if target.url else DIALED_LEG


Note = Callable[..., None]
"""Writes one line of the call record: ``note(kind, **fields)``."""


@runtime_checkable
class LegPlacingCall(Protocol):
    """A call that can place a second leg (the gateway's SIP calls)."""

    async def place_leg(
        self, target: str, agent: AgentFactory, ring_timeout: float, caller_id: str = "",
        login: tuple[str, str] | None = None,
        on_progress: Callable[[LegProgress], None] | None = None,
    ) -> ConsultLeg:  # fmt: skip
        """Call ``target`` (a number or SIP URI), ``agent`` talking once it answers; its
        From is ``caller_id`` ("" = the gateway's own caller id); CANCEL after
        ``ring_timeout`` seconds. ``login`` (user name, password: ``<Sip username
        password>``) answers a 401/407 to its INVITE in place of the account's;
        ``on_progress`` is told when the INVITE went out and at its first 180/183.

        Raises:
            DialRefused: ``target`` is not on the operator's allow-list (nothing dialled).
        """
        ...


class DialedLeg(Agent):
    """The second leg's agent: one end of the relay (the caller's end is the TwiML agent)."""

    def __init__(self, call: CallControl, relay: DialRelay) -> None:
        self.call = call
        self.relay = relay

    def on_answered(self) -> None:
        """The called party answered: the two are bridged from now on."""
        self.relay.leg_answered(self.call)

    def on_caller_frame(self, frame: bytes | None) -> None:
        """The called party's 20 ms, to the caller (not while screened)."""
        self.relay.leg_frame(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        """The called party's audio as it arrives: to its screening TwiML, while it runs."""
        screening = self.relay.screening
        if screening is not None:
            screening.on_caller_audio(frame)

    def next_frame(self) -> bytes | None:
        """The caller's 20 ms, to the called party (its screening TwiML's while it runs)."""
        screening = self.relay.screening
        if screening is not None:
            return screening.next_frame()
        return self.relay.frame_for_leg()

    def on_dtmf(self, digit: str) -> None:
        """The called party's key, to the caller (to its screening TwiML while it runs)."""
        screening = self.relay.screening
        if screening is not None:
            screening.on_dtmf(digit)
            return
        self.relay.called_key(digit)

    def on_hold(self, held: bool) -> None:
        """The called party held (or resumed) the call."""
        self.relay.note("dial_hold", side="called", held=held)

    def on_refer(self, referral: Referral) -> None:
        """The called party asked to transfer the caller (``<Dial referUrl>``)."""
        self.relay.referred(referral)


class DialRelay:
    """One target's second leg and what crosses between it and the caller (see the
    module docstring).

    Args:
        call: the caller's call.
        dial: the verb.
        note: writes the call record.
        recorder: both sides' audio from the answer (``record``); None: not recorded.
        hooks: the leg's status callbacks and screening (None: neither).
        leg: the leg as they name it (None: neither applies to its target).
    """

    def __init__(
        self,
        call: CallControl,
        dial: Dial,
        note: Note,
        recorder: BridgeRecorder | None = None,
        on_bridged: Callable[[], None] | None = None,
        hooks: LegHooks | None = None,
        leg: LegStatus | None = None,
    ) -> None:
        self.call = call
        self.dial = dial
        self.note = note
        self.recorder = recorder
        self.on_bridged = on_bridged
        self.hooks = hooks
        self.leg = leg
        self.sid = leg.sid if leg is not None else new_sid("CA")
        """The leg's ``CallSid`` (its ``DialCallSid``)."""
        self.screening: ScreeningLeg | None = None
        """The called party's screening TwiML, while it runs."""
        self.in_screening = False
        """Answered, not yet accepted by its screening TwiML: the caller hears ring tone."""
        self.screened_out = False
        """Answered and screened, never accepted: its screening TwiML refused the bridge, or
        the called party hung up during it."""
        self._screen_task: asyncio.Task[None] | None = None
        self.detection: LegDetection | None = None
        """Who answered, being detected (``machineDetection``): the caller hears ring tone."""
        self._ended_reported = False
        """Called once the two are bridged (``answerOnBridge``: the caller's call is answered)."""
        self.frames = FrameBridge()
        self.leg_call: CallControl | None = None
        """The second leg, once answered."""
        self.bridged = False
        self.answered_at: float | None = None
        """When the two were bridged (the loop's clock)."""
        self.ended_by = ""
        """``called`` (the called party hung up), ``time-limit``, ``star`` or ``caller``."""
        self._answered: asyncio.Future[CallControl] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._over = False
        self._rings = 0
        self._early: deque[bytes | None] = deque(maxlen=3)
        self.early_media = False
        """The called party sent audio before answering (it replaces the ring tone)."""
        self.send_digits = ""
        """Keys sent to the called party once bridged (``<Number sendDigits>``)."""
        self.target: DialTarget | None = None
        """The ``<Number>`` or ``<Sip>`` this relay dials (for :meth:`sip_params`)."""
        self.leg_ended: LegEnded | None = None
        """How the leg ended, once :meth:`run` is over (None: not reported)."""
        self.on_refer: Callable[[Referral], None] | None = None
        """Takes a REFER the called party sends once bridged (``<Dial referUrl>``:
        :mod:`sipgw.agent.twiml.dial.referurl`); None: it is declined."""
        self.wideband = False
        """Whether the bridge may carry wideband audio when both calls' codecs do
        (:mod:`sipgw.agent.twiml.dial.audioformat`); False: 8 kHz μ-law whatever they are."""
        self.widened: WidenedBridge | None = None
        """The two calls switched to a wideband format while bridged (None: μ-law)."""

    def agent(self, call: CallControl) -> Agent:
        """The second leg's agent (an :data:`~sipgw.agent.base.AgentFactory`)."""
        return DialedLeg(call, self)

    # -- the caller's side (the TwiML agent's per-tick calls)

    def caller_frame(self, frame: bytes | None) -> None:
        """The caller's 20 ms (from its jitter buffer)."""
        if self.bridged:
            self.frames.push(0, frame)
            if self.recorder is not None:
                self.recorder.caller_frame(frame)

    def frame_for_caller(self) -> bytes | None:
        """What the caller hears: the called party, or ring tone while it rings (and while
        its screening TwiML runs)."""
        if self.bridged:
            return self.frames.pop(0)
        if self.in_screening and not self._over:
            self._rings += 1
            return ringback_frame(self._rings - 1, self.dial.ring_tone)
        if self.early_media:
            return self._early.popleft() if self._early else None
        if self.leg_call is None and not self._over and not self._stop.is_set():
            self._rings += 1
            return ringback_frame(self._rings - 1, self.dial.ring_tone)
        return None

    def caller_key(self, digit: str) -> None:
        """The caller's key: ends the leg (``*`` with ``hangupOnStar``), else crosses."""
        if digit == "*" and self.dial.hangup_on_star and self.leg_call is not None:
            self.stop("star")
            return
        if self.bridged and self.leg_call is not None:
            _send_key(self.leg_call, digit, "the called party")

    # -- the leg's side (DialedLeg)

    def leg_progress(self, progress: LegProgress) -> None:
        """The leg's INVITE went out (``initiated``) or its first 180/183 came (``ringing``)."""
        if self.leg is not None:
            if progress.event == "initiated":
                self.leg.caller = progress.caller
            self._report(progress.event)

    def leg_answered(self, call: CallControl) -> None:
        """The called party answered (after the ``<Dial>`` was over, as our CANCEL crossed
        their answer: hung up at once); with a screening ``url`` that TwiML runs first."""
        if self._over:
            call.hangup()
            return
        if self.leg is not None:
            self.leg.answered_at = asyncio.get_running_loop().time()
            self._report("answered")
        target = self.leg.target if self.leg is not None else None
        if (
            self.hooks is not None
            and self.leg is not None
            and target
            and (target.url or target.amd)
        ):
            self.in_screening = self.screened_out = True  # until its TwiML accepts
            self._screen_task = asyncio.ensure_future(self._screen(call, self.hooks, self.leg))
            return
        self.accept(call)

    def accept(self, call: CallControl) -> None:
        """The answered called party is bridged (its screening, if any, accepted)."""
        self.in_screening = self.screened_out = False
        self.leg_call = call
        if not self._answered.done():
            self._answered.set_result(call)

    async def _screen(self, call: CallControl, hooks: LegHooks, leg: LegStatus) -> None:
        """The screening TwiML, on the called party's leg alone; its end bridges the two,
        its ``<Hangup>`` refuses the bridge (the leg is hung up). With ``machineDetection``
        who answered is detected first (:mod:`sipgw.agent.twiml.dial.legamd`); without a ``url``
        the two are then bridged."""
        if leg.target.amd:
            await self._detect(hooks, leg)
            if not leg.target.url:
                if not self._over and not self._stop.is_set():
                    self.accept(call)
                return
        self.note("dial_screening", target=leg.target.address)
        accepted = False
        screening = self.screening = hooks.screener(leg, call)
        try:
            accepted = await screening.screen_leg()
        except Exception as exc:  # noqa: BLE001 - any failure refuses, as a <Hangup>
            log.warning("[%s] <Dial> screening of %s failed: %s", self.call.call_id,
                        leg.target.address, exc)  # fmt: skip
        finally:
            self.screening = None
            await screening.close("screened")
        if accepted and not self._over and not self._stop.is_set():
            self.note("dial_screened", target=leg.target.address, accepted=True)
            self.accept(call)
            return
        self.note("dial_screened", target=leg.target.address, accepted=False)
        self.in_screening = False
        self.stop("screening")  # the leg is hung up (already, after its <Hangup>)

    async def _detect(self, hooks: LegHooks, leg: LegStatus) -> None:
        """``AnsweredBy`` of the answered leg: given to its screening request and posted to
        its ``amdStatusCallback``; a detection Twilio would refuse is skipped (logged)."""
        try:
            detection = LegDetection(leg.target, asyncio.get_running_loop().time())
        except ValueError as exc:
            log.warning("[%s] <Dial> %s machineDetection: %s (not detected)", self.call.call_id,
                        leg.target.address, exc)  # fmt: skip
            self.note("dial_ignored", attribute="machineDetection", why=str(exc))
            return
        self.detection = detection
        try:
            answer = await detection.decided
        finally:
            self.detection = None
        leg.answered_by = (("AnsweredBy", answer),
                           ("MachineDetectionDuration", str(detection.elapsed_ms)))  # fmt: skip
        self.note("dial_answered_by", target=leg.target.address, answered_by=answer,
                  elapsed_ms=detection.elapsed_ms)  # fmt: skip
        hooks.answered_by(leg, answer, detection.elapsed_ms)

    def _report(self, event: str, final: str = "", extra: tuple[tuple[str, str], ...] = ()) -> None:
        if self.hooks is not None and self.leg is not None:
            self.hooks.report(self.leg, event, final, extra)

    def _report_end(self, ended: LegEnded | None) -> None:
        """``completed`` with the leg's own final status and how long it lasted (once)."""
        leg = self.leg
        if leg is None or self._ended_reported:
            return
        self._ended_reported = True
        kind = ended.kind if ended is not None else None
        answered = leg.answered_at is not None
        extra: list[tuple[str, str]] = []
        if leg.answered_at is not None:
            seconds = round(asyncio.get_running_loop().time() - leg.answered_at)
            extra.append(("CallDuration", str(seconds)))
        else:
            extra.append(("CallDuration", "0"))
            if ended is not None and ended.status is not None:
                extra.append(("SipResponseCode", str(ended.status)))
        self._report("completed", leg_call_status(answered, kind, self.ended_by), tuple(extra))

    def sip_params(self) -> tuple[tuple[str, str], ...]:
        """A ``<Sip>`` target's ``DialSip...`` fields for the ``action`` (``sip_fields``,
        :mod:`~sipgw.agent.twiml.dial.rules`): from how its leg ended, else (the caller hung
        up first) from its answer, when it answered (no ``DialSipHeader_`` fields then)."""
        if self.target is None:
            return ()
        ended, call = self.leg_ended, self.leg_call
        if ended is not None:
            call_id = ended.call_id or (call.call_id if call is not None else "")
            answered = ended.kind == "answered"
            return sip_fields(self.target, call_id, ended.status, answered, ended.custom)
        if call is not None:
            return sip_fields(self.target, call.call_id, None, True)
        return ()

    def dial_status(self, kind: str | None) -> DialCallStatus:
        """``DialCallStatus`` of this target (``no-answer`` when its screening refused)."""
        if self.screened_out:
            return "no-answer"
        return dial_status(kind, self.leg_call is not None)

    def leg_frame(self, frame: bytes | None) -> None:
        """The called party's 20 ms (before the answer: its early media, to the caller;
        nothing while its screening TwiML runs: that is between it and the gateway; to the
        detector while who answered is detected)."""
        if self.detection is not None:
            self.detection.frame(frame, asyncio.get_running_loop().time())
        if self.bridged:
            self.frames.push(1, frame)
            if self.recorder is not None:
                self.recorder.called_frame(frame)
        elif self.leg_call is None and not self._over and not self.in_screening:
            self.early_media = self.early_media or frame is not None
            if self.early_media:
                self._early.append(frame)

    def frame_for_leg(self) -> bytes | None:
        """What the called party hears: the caller."""
        return self.frames.pop(1) if self.bridged else None

    def called_key(self, digit: str) -> None:
        """The called party's key, to the caller."""
        if self.bridged:
            _send_key(self.call, digit, "the caller")

    def referred(self, referral: Referral) -> None:
        """The called party's REFER: to :attr:`on_refer` while the two are bridged, else
        declined (603)."""
        if self.bridged and self.on_refer is not None:
            self.on_refer(referral)
        else:
            referral.refuse(603)

    # -- the end

    def stop(self, why: str) -> None:
        """End the leg (``why``: see :attr:`ended_by`). The caller hanging up reports the
        leg's ``completed`` at once: its call is closing, and its callbacks with it."""
        self.ended_by = self.ended_by or why
        self._stop.set()
        if why == "caller" and not self._over:
            self._report_end(None)

    async def run(self, leg: ConsultLeg) -> tuple[LegEnded | None, float | None]:
        """Ring, bridge once answered, until it is over; how the leg ended (None: hung up
        by us and not reported within 5 s) and the seconds the two talked (None: not
        answered)."""
        loop = asyncio.get_running_loop()
        ended = asyncio.ensure_future(leg.ended())
        stopped = asyncio.ensure_future(self._stop.wait())
        talked: float | None = None
        keys: asyncio.Task[None] | None = None
        try:
            first = asyncio.FIRST_COMPLETED
            waiting: set[asyncio.Future[Any]] = {ended, stopped, self._answered}
            await asyncio.wait(waiting, return_when=first)
            if self._answered.done() and not ended.done() and not stopped.done():
                self.bridged, self.answered_at = True, loop.time()
                if self.wideband and self.leg_call is not None:
                    self.widened = widen(self.call, self.leg_call)
                self.note("dial_bridged", **self._format_note())
                if self.on_bridged is not None:
                    self.on_bridged()
                if self.send_digits:
                    keys = asyncio.ensure_future(self._send_digits())
                talking: set[asyncio.Future[Any]] = {ended, stopped}
                done, _ = await asyncio.wait(talking, timeout=self.dial.time_limit,
                                             return_when=first)  # fmt: skip
                talked = loop.time() - self.answered_at
                if not done:
                    self.stop("time-limit")
            elif self._answered.done():
                talked = 0.0
            if ended.done():
                self.ended_by = self.ended_by or "called"
            self.bridged = False
            if not ended.done():
                leg.hangup()
                await asyncio.wait({ended}, timeout=5.0)
            return (ended.result() if ended.done() else None), talked
        finally:
            self.bridged, self._over, self.in_screening = False, True, False
            if self.widened is not None:
                self.widened.restore()  # the TwiML after the <Dial> plays in μ-law
            stopped.cancel()
            if keys is not None:
                keys.cancel()
            if self._screen_task is not None:
                self._screen_task.cancel()
            if not ended.done():
                leg.hangup()  # cancelled: the caller hung up
                ended.cancel()
            self.leg_ended = ended.result() if ended.done() and not ended.cancelled() else None
            self._report_end(self.leg_ended)

    def _format_note(self) -> dict[str, object]:
        widened = self.widened
        if widened is None:
            return {}
        return {"audio": f"{widened.audio.encoding}/{widened.audio.sample_rate}"}

    async def _send_digits(self) -> None:
        """:attr:`send_digits` to the called party: ``w`` waits half a second, ``W`` one,
        each run of keys goes as one sequence of events."""
        for run in re.findall(r"[wW]|[^wW]+", self.send_digits):
            if run in ("w", "W"):
                await asyncio.sleep(0.5 if run == "w" else 1.0)
            elif self.bridged and self.leg_call is not None:
                _send_key(self.leg_call, run, "the called party")


def _send_key(call: CallControl, digit: str, whom: str) -> None:
    try:
        call.send_dtmf(digit)
    except DialRefused:
        log.info("[%s] <Dial>: key %s not passed to %s (not in the dial allow-list)",
                 call.call_id, digit, whom)  # fmt: skip


class RelayedDial:
    """What a ``<Dial>`` that bridges the caller through a :class:`DialRelay` does the same
    way (:class:`BridgedDial`, :class:`~sipgw.agent.twiml.queues.queuedial.QueueDial`): the
    caller's per-tick calls go to the relay of the moment, and the caller's hang-up ends it.

    Attributes:
        relay: the relay ringing or bridged now (None: none yet).
        sid: the bridged leg's ``DialCallSid`` ("" until there is one).
    """

    relay: DialRelay | None
    sid: str
    on_refer: Callable[[Referral], None] | None = None
    """Takes a REFER from the bridged called party (set by the TwiML agent for a ``<Dial
    referUrl>``); None: declined."""

    def at_hangup(self) -> DialResult:
        """The caller hung up during the ``<Dial>``: the bridge ends; how, for its ``action``."""
        relay = self.relay
        if relay is None:
            return DialResult("canceled")
        relay.stop("caller")
        answered_at = relay.answered_at
        talked = None
        if answered_at is not None:
            talked = round(asyncio.get_running_loop().time() - answered_at)
        answered = relay.leg_call is not None
        return DialResult(dial_status(None, answered, caller_left=True), self.sid, talked,
                          sip=relay.sip_params())  # fmt: skip

    # -- the caller's per-tick calls, to the relay of the moment

    def caller_frame(self, frame: bytes | None) -> None:
        """The caller's 20 ms."""
        if self.relay is not None:
            self.relay.caller_frame(frame)

    def frame_for_caller(self) -> bytes | None:
        """What the caller hears (ring tone until bridged)."""
        return self.relay.frame_for_caller() if self.relay is not None else None

    def caller_key(self, digit: str) -> None:
        """The caller's key."""
        if self.relay is not None:
            self.relay.caller_key(digit)


class BridgedDial(RelayedDial):
    """One ``<Dial>`` carried out bridged: its targets in turn until one answers (see the
    module docstring).

    Args:
        call: the caller's call.
        placer: the same call, as what places legs.
        dial: the verb.
        caller_id: the From of the legs ("" = the gateway's own).
        note: writes the call record.
        recorder: makes a target's recorder (``record``); None: not recorded.
        on_bridged: called when a target is bridged (``answerOnBridge``).
        hooks: the legs' status callbacks and screening (None: neither).
    """

    def __init__(
        self,
        call: CallControl,
        placer: LegPlacingCall,
        dial: Dial,
        caller_id: str,
        note: Note,
        recorder: Callable[[], BridgeRecorder] | None = None,
        on_bridged: Callable[[], None] | None = None,
        hooks: LegHooks | None = None,
    ) -> None:
        self.call = call
        self.placer = placer
        self.dial = dial
        self.caller_id = caller_id
        self.note = note
        self.new_recorder = recorder
        self.on_bridged = on_bridged
        self.hooks = hooks
        self.relay: DialRelay | None = None
        """The target ringing or bridged now."""
        self.wideband = False
        """Its relays' :attr:`DialRelay.wideband` (the TwiML agent says)."""
        self.sid = ""
        self.answered = False

    def new_relay(self, kind: Callable[..., DialRelay], target: DialTarget) -> DialRelay:
        """``target``'s relay (of class ``kind``), with its recorder and its leg's hooks."""
        recorder = self.new_recorder() if self.new_recorder is not None else None
        hooks = self.hooks
        wanted = target.url or target.status_callback or target.amd
        leg = hooks.leg_status(target) if hooks is not None and wanted else None
        relay: DialRelay = kind(self.call, self.dial, self.note, recorder, self.on_bridged,
                                hooks, leg)  # fmt: skip
        relay.send_digits = target.send_digits
        relay.wideband = self.wideband
        relay.target = target
        relay.on_refer = self.on_refer
        return relay

    async def place(self, relay: DialRelay, target: DialTarget) -> ConsultLeg | None:
        """Place ``target``'s leg for ``relay`` (its progress reported to it); None when the
        dial allow-list refused it (logged and noted: the ``<Dial>`` goes on without it)."""
        factory = PluginFactory(relay.agent, leg_capabilities(target))
        try:
            return await self.placer.place_leg(
                target.address, factory, self.dial.timeout, self.caller_id, leg_login(target),
                on_progress=relay.leg_progress if relay.leg is not None else None,
            )  # fmt: skip
        except DialRefused as exc:
            log.warning("[%s] TwiML <Dial> %s refused: %s", self.call.call_id,
                        target.address, exc)  # fmt: skip
            self.note("refused", verb="Dial", why=str(exc), target=target.address)
            return None

    async def run(self) -> DialResult:
        """Each target in turn until one answers; how the ``<Dial>`` ended."""
        result = DialResult("failed")
        for target in self.dial.targets:
            relay = self.relay = self.new_relay(DialRelay, target)
            self.note("dial", target=target.address, how="bridge")
            leg = await self.place(relay, target)
            if leg is None:
                continue
            self.sid = relay.sid
            ended, talked = await relay.run(leg)
            self.answered = talked is not None
            kind = ended.kind if ended is not None else None
            result = DialResult(
                relay.dial_status(kind), self.sid,
                None if talked is None else round(talked), sip=relay.sip_params(),
            )  # fmt: skip
            self.note("dial_ended", target=target.address, status=result.status,
                      seconds=result.duration, ended_by=relay.ended_by or kind or "")  # fmt: skip
            if self.answered:
                break
        return result
