"""One call as the gateway runs it: the agent's call control and the ticker's participant.

A :class:`CallHandle` holds what one call has: its SIP dialog, RTP endpoint,
media session and agent. The shared ticker calls :meth:`CallHandle.tick`
every 20 ms; the agent controls the call through it (hang up, transfer, DTMF):
transfers and DTMF pass the gateway's dial gate here (:mod:`sipgw.app.calls.dialing`),
whatever agent or tool asked for them, and what goes out is what the gate judged.
It also keeps the call's two timers: the RTP timeout, re-armed from the media
session's last arrival, and the longest call duration (one ``call_at``).
:func:`stream_params` turns what offer/answer agreed (SRTP keys included) into
the media session's parameters.

Handles are made in one place, :meth:`sipgw.app.calls.callpath.CallPath.admit`, for
calls in both directions. The agent sees only :class:`~sipgw.agent.base.CallControl`
and 20 ms μ-law frames (:meth:`tick`): a leg that is not SIP and RTP (a browser,
a Twilio Media Streams socket) is another handle with the same two faces
(:class:`sipgw.app.legs.handle.LegHandle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sipgw.agent.amd.settings import AmdRequest
from sipgw.agent.base import NO_DETAILS, Agent, AgentFactory, CallDetails, CallPurpose, Direction
from sipgw.agent.capabilities import UNDECLARED, AgentCapabilities
from sipgw.agent.conversation.handover import HandOver, PreparedLine
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.transfer.settings import JoinHow
from sipgw.agent.transfer.warm import ConsultLeg, LegProgress
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.dialing import DialGate
from sipgw.app.calls.hints import Refused
from sipgw.app.calls.recording import CallRecorder, formats_of
from sipgw.app.calls.siprecfork import CallForks, SiprecRecordable
from sipgw.app.operations.counters import CallCounters
from sipgw.foundation.tracing import NO_SPAN, Span
from sipgw.media.aio.callmedia import CallMedia
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.codecs import codec_named
from sipgw.media.quality import CallQuality
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.srtp import SrtpKeying
from sipgw.sip.call import CallInfo
from sipgw.sip.customheaders import user_to_user
from sipgw.sip.dialpolicy import PhoneNumber
from sipgw.sip.errors import SipError
from sipgw.sip.events import TransferStage, TransferUpdated
from sipgw.sip.identity import uri_number
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.sdp import InlineKey
from sipgw.sip.trustedid import phone_number

__all__ = [
    "TRANSFER_NOTIFY_MARGIN",
    "TRANSFER_TIMEOUT",
    "CallHandle",
    "CallLog",
    "Consulting",
    "follow_formats",
    "stream_params",
]

TRANSFER_TIMEOUT = 10.0
"""Seconds to wait for the caller's phone to accept a REFER."""
ANSWER_ACK_WAIT = 2.0
"""Seconds a transfer asked for right after the answer waits for the caller's ACK."""
TRANSFER_NOTIFY_MARGIN = 15.0
"""On top of the ring timeout, the wait for a REFER's final NOTIFY once the phone accepted
it (its own call setup to the target): then the transfer is failed (sipgw.sip.usages.refer)."""


def _keying(suite: str, key: InlineKey) -> SrtpKeying:
    mki = b"" if key.mki is None else key.mki[0].to_bytes(key.mki[1], "big")
    return SrtpKeying(suite, key.key_salt, mki, key.lifetime)


def stream_params(media: NegotiatedAudio) -> StreamParams:
    """The media session's parameters for what offer/answer agreed."""
    srtp = None
    if media.srtp is not None:
        srtp = (
            _keying(media.srtp.suite, media.srtp.local),
            _keying(media.srtp.suite, media.srtp.remote),
        )
    codec = codec_named(media.codec)  # resolved once per call, never per packet
    return StreamParams(
        remote=(media.remote_address, media.remote_port),
        codec=codec,
        payload_type=media.payload_type,
        telephone_event_pt=media.telephone_event_pt,
        ptime_ms=20 if codec.opaque else media.ptime,  # Opus: 20 ms packets, whatever a=ptime
        send=media.sends,
        receive=media.receives,
        srtp=srtp,
        rtcp_mux=media.rtcp_mux,
        rtcp_port=media.remote_rtcp_port,
        fmtp=media.fmtp,
    )


def follow_formats(
    session: MediaSession | None, recorder: CallRecorder | None, agent: Agent | None
) -> None:
    """The call's media and recorder take ``agent``'s formats from the next frame on (a
    hand-off between lines, a bridge; nothing changes when they are the ones they have, or
    for no agent: the call is ending)."""
    if agent is None:
        return
    if session is not None:
        session.use_agent_format(agent.audio_format, agent.caller_format)
    if recorder is not None:
        recorder.use_formats(*formats_of(agent))


def _digit_how(session: MediaSession | None) -> str:
    """How a call's media hears key presses, for the digit's log line."""
    if session is None or session.tones is None:
        return "RFC 4733"
    if session.params.telephone_event_pt is None:
        return "in-band tones"
    return "RFC 4733 or in-band tones"  # SIPGW_INBAND_DTMF=on: both, each press once


class Consulting(Protocol):
    """Warm transfers, as a call's agent asks for them (:mod:`sipgw.app.calls.warmtransfer`)."""

    async def place_leg(
        self,
        handle: CallHandle,
        target: str,
        agent: AgentFactory,
        ring_timeout: float,
        caller_id: str = "",
        why: str = "second leg",
        login: tuple[str, str] | None = None,
        on_progress: Callable[[LegProgress], None] | None = None,
    ) -> ConsultLeg:
        """Place a call on ``handle``'s behalf: its consultation call, or its TwiML
        ``<Dial>``'s second leg (``login``: its own digest user name and password;
        ``on_progress``: told its ``initiated`` and ``ringing``)."""
        ...

    async def join(self, handle: CallHandle, leg: ConsultLeg, how: JoinHow) -> str:
        """Join ``handle`` with its consultation call."""
        ...


class CallLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each line with the call's log id and puts ``extra`` on its record.

    ``extra`` is ``{"call": log id, "call_id": SIP Call-ID}`` (see :meth:`for_call`);
    the JSON log format (:mod:`sipgw.app.operations.logformat`) writes both as fields.
    """

    @classmethod
    def for_call(cls, logger: logging.Logger, call: CallInfo) -> CallLog:
        """The adapter for ``call``'s lines."""
        return cls(logger, {"call": call.log_id, "call_id": call.call_id})

    def process(self, msg: object, kwargs: Any) -> tuple[str, Any]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **(kwargs.get("extra") or {})}
        return f"[{extra.get('call', '-')}] {msg}", kwargs


async def no_line_switch(hand_over: HandOver) -> str:
    """A call whose line hands off to no line (:attr:`CallHandle.prepare_line`)."""
    return "this call's line hands off to no line"


@dataclass(eq=False, slots=True)
class CallHandle(SiprecRecordable):
    """One call as the gateway runs it; the agent's :class:`~sipgw.agent.base.CallControl`.

    Slotted: past 30 attributes an instance's ``__dict__`` no longer shares its keys with
    the class's other instances, which cost about 1.5 KB per call.
    """

    call: CallInfo
    log: logging.LoggerAdapter[logging.Logger]
    sip: SipEndpoint
    """Drives the SIP core: this call's hang-up and REFER go through it."""
    gate: DialGate
    """Judges every transfer and DTMF string the agent asks for."""
    counted: CallCounters
    """The gateway's counters (early sends)."""
    started: float = field(default_factory=time.monotonic)
    endpoint: RtpEndpoint | None = None
    session: MediaSession | None = None
    quality: CallQuality | None = None
    """The media quality figures, set as the call ends (media/quality.py)."""
    agent: Agent | None = None
    capabilities: AgentCapabilities = UNDECLARED
    """What its agent's factory declares (:mod:`sipgw.agent.capabilities`)."""
    setup: asyncio.Task[None] | None = None
    ended: bool = False
    keypad_refused: bool = False
    """A digit came for an agent that takes none (logged once)."""
    answered: bool = False
    """Answered (200 OK sent or received): its agent's audio plays, a drain says goodbye."""
    end_reason: str = ""
    transfer_waiter: asyncio.Future[bool] | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the caller's ACK confirmed the answer (the gateway's CallConfirmed)."""
    rtp_step: CallMedia | None = None
    """The ticker's 20 ms step of its session, agent and sockets (media/aio/callmedia.py)."""
    rtp_timer: asyncio.TimerHandle | None = None
    limit_timer: asyncio.TimerHandle | None = None
    purpose: CallPurpose | None = None
    """Why an outbound call was placed (a callback), for its agent."""
    details: CallDetails = NO_DETAILS
    """The call's variables and what its INVITE (or leg) said, for its agent (``details``)."""
    refer_headers: tuple[tuple[str, str], ...] = ()
    """``X-`` headers each REFER of this call carries (the call's own, when it was placed)."""
    transfer_summary: bool = False
    """Whether a transfer's summary goes with the REFER as User-to-User (RFC 7433)."""
    refused: Refused | None = None
    """How the far end refused a placed call (status, Reason, Warning, our hint); None: not."""
    transfer_wait: float = 60.0 + TRANSFER_NOTIFY_MARGIN
    """Seconds after the REFER's 202 for its final NOTIFY; then the transfer failed (408)."""
    amd: AmdRequest | None = None
    """The answering-machine detection a placed call runs (``AmdCall``); None: none."""
    ivr_goal: str = ""
    """What a placed call is to reach through a phone menu (docs/ivr.md); "": nothing."""
    recorder: CallRecorder | None = None
    """Writes the call's WAV when recording is on (:mod:`sipgw.app.calls.recording`)."""
    dtmf_sent: str = ""
    """Every digit the agent keyed in this call, in order (judged as one sequence)."""
    line: str = ""
    """The line it was routed to (:mod:`sipgw.app.lines`); "" without a routes file."""
    span: Span = NO_SPAN
    """The call's trace span (:mod:`sipgw.app.operations.opentelemetry`; :data:`NO_SPAN`
    untraced)."""
    record: bool | None = None
    """Record this call (its line says); None = as ``SIPGW_RECORD_DIR`` says."""
    inband_dtmf: str = "auto"
    """Key presses as tones: its line's ``inband_dtmf``, else its account's, else the setting's."""
    hung_up_by: str = ""
    """Who asked our side to end it first: ``agent``, ``gateway`` or ``operator``."""
    end_status: int | None = None
    """The final SIP status of its INVITE, when the core reported one (CallEnded)."""
    transferred_to: str = ""
    """Where a transfer that succeeded took the caller."""
    refer_target: str = ""
    """The Refer-To of our latest REFER."""
    warm: Consulting | None = None
    """Warm transfers (set by the call path); None: this call cannot do them."""
    forks: CallForks = field(default_factory=CallForks)  # its SIPREC recording sessions
    transfer_result: asyncio.Future[TransferUpdated] | None = None
    """While an attended transfer's REFER runs: its final answer (not the agent's to see)."""
    lines: list[tuple[str, float]] = field(default_factory=list)
    """Each line it was on, and when it took the call (Unix s): sipgw/app/calls/lineswitch.py."""
    hand_over: HandOver | None = None
    """Set while a hand-off's target agent is built
    (:class:`sipgw.agent.conversation.handover.SwitchesLines`)."""
    prepare_line: Callable[[HandOver], Awaitable[PreparedLine | str]] = no_line_switch
    """Builds the agent of the line it is handed to (the call path sets it); a string: why not."""
    answer_now: Callable[[], None] | None = None
    """Answers it (200 OK) while in early media (:mod:`sipgw.agent.base`); None: not."""

    @property
    def codec(self) -> str:
        """The audio codec offer/answer agreed on (``PCMU``, ``G722``); "" before media."""
        return self.session.params.codec.name if self.session is not None else ""

    # -- CallControl

    @property
    def call_id(self) -> str:
        """The SIP Call-ID."""
        return self.call.call_id

    @property
    def caller(self) -> str:
        """The caller's URI."""
        return str(self.call.caller.uri)

    @property
    def called(self) -> str:
        """The called URI."""
        return str(self.call.called.uri)

    @property
    def direction(self) -> Direction:
        """``outbound`` for a call the gateway placed (its agent speaks first)."""
        return "outbound" if self.call.outbound else "inbound"

    @property
    def verified_caller(self) -> str:
        """The other party's number as far as it is proven (see
        :class:`~sipgw.agent.base.CallControl`): the SIP core's trusted identity of an incoming
        call; the number a placed call reached."""
        if self.call.outbound:
            return phone_number(uri_number(self.call.called.uri))
        return self.call.trusted_identity

    @property
    def leg(self) -> str:
        """``sip``: the call came or went over SIP and RTP (:mod:`sipgw.app.legs` has others)."""
        return "sip"

    @property
    def state(self) -> str:
        """Where the call is, for the API: the SIP core's state, lower case (``confirmed``)."""
        return self.call.state.name.lower()

    def hangup(self, status: int = 480, by: str = "agent") -> None:
        """End the call from our side (BYE; ``status`` to an incoming call not answered yet);
        ``by``: who asked (``agent``, ``gateway`` or ``operator``), for the call's record."""
        if not self.ended:
            self.hung_up_by = self.hung_up_by or by
            self.sip.act(lambda now: self.sip.ua.hangup(self.call, now, status))

    def send_dtmf(self, digits: str) -> None:
        """Send RFC 4733 digits to the caller, if the dial allow-list has them.

        The list judges everything the call has keyed, these digits included, as one
        sequence (an allowed one, or the beginning of one): keys allowed one at a time (a
        PBX menu's ``1``, ``2``, ``#``) cannot add up to a number that is not (``9`` for an
        outside line, then ``0``, ``0``, ``4``, ``4`` ...).

        Raises:
            DialRefused: the call's digits with these are not allowed (nothing is sent).
        """
        keyed = self.gate.admit_keyed(self.dtmf_sent, digits, self.log)
        if self.session is not None:
            self.session.send_dtmf(keyed.digits)  # the digits judged, blanks dropped
            self.dtmf_sent += keyed.digits

    def audio_ready(self, continuing: bool = False) -> None:
        """Talkspurt fast path: send the next tick's packet now (see media/aio/callmedia.py)."""
        step = self.rtp_step
        if step is not None and step.send_ahead(asyncio.get_running_loop().time(), continuing):
            self.counted.early_send()

    def use_agent(self, agent: Agent | None, capabilities: AgentCapabilities = UNDECLARED) -> None:
        """``agent`` (its factory declaring ``capabilities``) is the call's from the next tick
        on; the media and the recorder convert to its formats (:func:`follow_formats`)."""
        self.agent, self.capabilities = agent, capabilities
        if self.rtp_step is not None:
            self.rtp_step.set_agent(agent)
        follow_formats(self.session, self.recorder, agent)

    def follow_agent_format(self) -> None:
        """Its agent changed its formats (a bridged TwiML ``<Dial>``): the media follows."""
        follow_formats(self.session, self.recorder, self.agent)

    def start_media(self, session: MediaSession, endpoint: RtpEndpoint) -> CallMedia:
        """The call's 20 ms step, for the ticker (:class:`~sipgw.media.aio.callmedia.CallMedia`):
        the session's frames to the agent (when there is one) and the recorder, the
        agent's to RTP, the caller's digits (RFC 4733 events, key tones in the audio) to
        :meth:`dtmf_received`."""
        session.listen_for_tones(self.inband_dtmf)
        recorder, digit = self.forks.taker(self.recorder), self._media_digit
        self.rtp_step = CallMedia(session, self.agent, endpoint, recorder=recorder, on_digit=digit)
        return self.rtp_step

    def _media_digit(self, digit: str) -> None:
        self.dtmf_received(digit, _digit_how(self.session))

    def clear_audio(self) -> int:
        """Nothing to take back on RTP: a frame sent is a frame the phone plays."""
        return 0

    async def transfer(self, target: str, summary: str = "") -> bool:
        """Blind transfer with REFER; True once the caller's phone accepted it (202).

        When the target then answers, the gateway ends this call; when it does
        not, or no final NOTIFY comes :attr:`transfer_wait` seconds after the 202, the
        agent's :meth:`~sipgw.agent.base.Agent.on_transfer_failed` is called.
        The REFER carries :attr:`refer_headers`, and ``summary`` as User-to-User when
        :attr:`transfer_summary` is on.

        Raises:
            DialRefused: ``target`` is not allowed (no REFER is sent).
        """
        refer_to = self.gate.admit("transfer", target, self.log)
        if self.ended or self.transfer_waiter is not None:
            return False
        if isinstance(refer_to, PhoneNumber):
            self.log.warning("transfer to %s failed: a REFER needs a URI (sip: or tel:)", target)
            return False
        uui = user_to_user(summary) if summary.strip() and self.transfer_summary else None
        await self._confirmed()  # an agent may transfer at once (a TwiML app's first <Dial>)
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transfer_waiter = waiter
        self.refer_target = str(refer_to)
        try:
            self.sip.act(lambda now: self.sip.ua.refer(
                self.call, refer_to, now, headers=self.refer_headers, user_to_user=uui,
                notify_timeout=self.transfer_wait,
            ))  # fmt: skip
            async with asyncio.timeout(TRANSFER_TIMEOUT):
                return await waiter
        except (SipError, TimeoutError) as exc:
            self.log.warning("transfer to %s failed: %s", target, exc or "no answer")
            return False
        finally:
            self.transfer_waiter = None

    async def _confirmed(self, within: float = ANSWER_ACK_WAIT) -> None:
        """Until the caller's ACK confirms the answer (a REFER needs a confirmed dialog,
        RFC 3515 section 2.4.1 on RFC 3261 section 13.3.1.4), at most ``within`` seconds."""
        if self.state == "answered" and not self.acked.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self.acked.wait()

    async def consult(self, target: str, agent: AgentFactory, ring_timeout: float) -> ConsultLeg:
        """A warm transfer's consultation call (``WarmTransferCall``): :meth:`place_leg`."""
        return await self.place_leg(target, agent, ring_timeout, why="warm transfer")

    async def place_leg(
        self, target: str, agent: AgentFactory, ring_timeout: float, caller_id: str = "",
        login: tuple[str, str] | None = None, why: str = "second leg",
        on_progress: Callable[[LegProgress], None] | None = None,
    ) -> ConsultLeg:  # fmt: skip
        """A warm transfer's consultation or a TwiML ``<Dial>``'s leg: ``WarmTransfers.place_leg``.

        Raises ``DialRefused``: ``target`` is not allowed, or second legs are not set up here.
        """
        if self.warm is None:
            raise DialRefused("transfer", target, f"{why}s are not available here")
        warm = self.warm.place_leg
        return await warm(self, target, agent, ring_timeout, caller_id, why, login, on_progress)

    async def join(self, leg: ConsultLeg, how: JoinHow) -> str:
        """Join this call with its consultation call (``refer`` or ``bridge``).

        Raises:
            JoinFailed: it could not be done.
        """
        if self.warm is None:
            raise RuntimeError("warm transfers are not available")
        return await self.warm.join(self, leg, how)

    def transfer_updated(self, event: TransferUpdated) -> None:
        """Our REFER's progress: the phone's answer settles :meth:`transfer`; the target's
        answer ends this call (success) or tells the agent (failure)."""
        self.log.info("transfer %s: %d %s", event.stage.value, event.status, event.reason)
        result = self.transfer_result
        if result is not None and event.stage is not TransferStage.PROGRESS:
            if event.stage is not TransferStage.ACCEPTED and not result.done():
                result.set_result(event)  # the attended transfer decides what follows
            return
        waiter = self.transfer_waiter
        if event.stage in (TransferStage.ACCEPTED, TransferStage.REJECTED):
            if event.stage is TransferStage.REJECTED and self.agent is not None:
                self.agent.on_transfer_refused(event.status, event.reason)
            if waiter is not None and not waiter.done():
                waiter.set_result(event.stage is TransferStage.ACCEPTED)
        elif event.stage is TransferStage.SUCCEEDED:
            self.transferred_to = self.refer_target
            self.hangup(by="agent")  # the caller now talks to the target (RFC 5589 §6)
        elif event.stage is TransferStage.FAILED:
            if self.agent is not None:
                self.agent.on_transfer_failed(event.status, event.reason)

    def dtmf_received(self, digit: str, how: str) -> None:
        """A keypad digit from the caller (``how``: RFC 4733, in-band tones, SIP INFO), to
        the agent."""
        self.log.info("DTMF %s (%s)", digit, how)
        if self.agent is None:
            return
        if self.capabilities.keypad:
            self.agent.on_dtmf(digit)
        elif not self.keypad_refused:
            self.keypad_refused = True
            self.log.info("its agent takes no keypad digits (its record declares no keypad): "
                          "not given to it")  # fmt: skip

    # -- timers

    def watch_rtp(self, timeout: float) -> None:
        """Hang up once the peer has shown no sign of life for ``timeout`` seconds.

        A sign is RTP from the caller, or RTCP about our stream from a listen-only
        (``a=recvonly``) peer (media/liveness.py). One timer at the last sign plus
        ``timeout``; when it fires after a sign (or while no media flows either
        way, ``a=inactive``), it moves to the new deadline instead.
        """
        session = self.session
        if session is None or self.ended:
            return
        self.rtp_timer = asyncio.get_running_loop().call_at(
            session.last_received + timeout, self._rtp_deadline, timeout
        )

    def _rtp_deadline(self, timeout: float) -> None:
        self.rtp_timer = None
        session = self.session
        if session is None or self.ended:
            return
        if session.idle_for(asyncio.get_running_loop().time()) < timeout:
            self.watch_rtp(timeout)  # RTP came meanwhile, or the call is on hold
            return
        self.log.warning("no RTP for %g s: hanging up", timeout)
        self.hangup(by="gateway")

    def limit_duration(self, seconds: float) -> None:
        """Hang up ``seconds`` from now (the longest call)."""
        if not self.ended:
            self.limit_timer = asyncio.get_running_loop().call_later(
                seconds, self._limit_reached, seconds
            )

    def _limit_reached(self, seconds: float) -> None:
        self.limit_timer = None
        self.log.info("call reached the %g s limit: hanging up", seconds)
        self.hangup(by="gateway")

    def cancel_timers(self) -> None:
        """Stop both timers (the call ended); drops their references to this handle."""
        for timer in (self.rtp_timer, self.limit_timer):
            if timer is not None:
                timer.cancel()
        self.rtp_timer = self.limit_timer = None
