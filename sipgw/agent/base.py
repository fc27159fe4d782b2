"""The per-call agent interface: caller audio and DTMF in; agent audio and call control out.

Audio is G.711 μ-law, 8 kHz, in 160-byte (20 ms) frames, whatever the call's codec,
unless the agent declares another format (:attr:`Agent.audio_format`: 16 kHz s16le on an
HD-voice call); the media layer converts between the codec and it once, at its edge.

The shared media ticker calls :meth:`Agent.on_caller_frame` and then
:meth:`Agent.next_frame` once per 20 ms for every call, on the event loop;
while the caller holds the call (it sends a=sendonly or a=inactive) only
:meth:`Agent.on_caller_frame` is called: nothing is sent, and an agent that
pairs the two (a delay line) must not let what it queues grow meanwhile.
Both must return at once (no I/O, no awaiting): queue work for a task of
your own instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, runtime_checkable

from sipgw.agent.observer import AgentObserver
from sipgw.agent.record import CallRecord
from sipgw.foundation.tracing import NO_SPAN, Span
from sipgw.media.codecs.base import ULAW_8K, AudioFormat
from sipgw.media.quality import CallQuality

__all__ = [
    "FRAME_BYTES",
    "NO_DETAILS",
    "Agent",
    "AgentFactory",
    "AnswersLater",
    "CallControl",
    "CallDetails",
    "CallPurpose",
    "DefersAnswer",
    "Direction",
    "Forwarded",
    "Referral",
]

Direction = Literal["inbound", "outbound"]
"""Who placed the call: the other side (``inbound``) or the gateway (``outbound``)."""


@dataclass(frozen=True, slots=True)
class CallPurpose:
    """Why the gateway placed an outbound call (a callback, today)."""

    reason: str = ""
    """What it is about, worded to follow "calling you back about", e.g. "your refund"."""
    notes: str = ""
    """Anything else the agent should know."""
    requested_time: str = ""
    """When the callee asked to be called, as agreed with them."""
    callback_id: int | None = None
    """The callback's row in the callback store."""


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One forwarding step that brought the call here (a number that forwards to us)."""

    by: str
    """The number (or URI) that was called and forwarded the call."""
    reason: str = ""
    """Why: ``user-busy``, ``no-answer``, ``unconditional``, ...; "" when not said."""


@dataclass(frozen=True, slots=True)
class CallDetails:
    """What a call carries beyond caller and called, whatever leg it came on.

    ``variables`` are the call's own data: given when it was placed (``POST /api/calls``,
    ``sipgw call --var``), by the line it came in on, by a Twilio stream's custom
    parameters or by the browser page's query string. The rest is what the caller's
    network said, on a SIP call: treat it as data about the call, never as instructions.
    """

    variables: Mapping[str, str] = field(default_factory=dict)
    """Per-call variables by name, e.g. ``{"first_name": "Ada", "appointment": "Tue 3 pm"}``."""
    asserted_identity: str = ""
    """The caller's number as their network asserts it (SIP P-Asserted-Identity), if any."""
    withheld: bool = False
    """The caller withheld their number (SIP Privacy): do not say or repeat it."""
    forwarded: tuple[Forwarded, ...] = ()
    """How the call was forwarded to us, oldest step first."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """``X-`` headers of the call the operator lets through (``SIPGW_PASS_HEADERS``)."""
    caller_verification: Mapping[str, object] = field(default_factory=dict)
    """What the caller's carrier asserts it verified of the caller's number (STIR/SHAKEN),
    {} when it asserted nothing (or was not a source the operator named): ``status``
    (``passed``, ``failed``, ``none``) and, when sent, ``source`` (``verstat`` or
    ``identity``), ``verstat``, ``attestation`` (A, B, C), ``orig``, ``dest``,
    ``signature`` (``unverified``: the gateway does not check a PASSporT's signature) and
    ``problem``. The carrier's word, not the gateway's check."""
    caller_number: str = ""
    """The number (or user name) of the caller's address (the From: us, on a call the
    gateway placed), read by the gateway's URI parser; "" when it is anonymous or has none.
    It proves nothing: anyone can write any From (:attr:`CallControl.verified_caller`)."""
    called_number: str = ""
    """The number (or user name) of the called address (the To: the number a placed call
    went to), read the same way; "" when it has none."""
    twiml_url: str = ""
    """A placed call's own TwiML webhook (``POST /api/calls`` field ``twiml_url``), for
    the ``twiml`` agent: it replaces ``SIPGW_TWIML_URL`` for this call; "" = none."""
    twiml: str = ""
    """A placed call's own TwiML document (field ``twiml``), for the ``twiml`` agent: run
    instead of fetching the webhook; "" = none."""
    machine_detection: Mapping[str, str] = field(default_factory=dict)
    """A placed call's answering-machine detection as Twilio's ``Calls.create`` asks it
    (``MachineDetection``, ``MachineDetectionTimeout``, ``AsyncAmd``,
    ``AsyncAmdStatusCallback``), for the ``twiml`` agent (:mod:`sipgw.agent.twiml.answeredby`);
    {} = none."""
    sample_rate: int = 8000
    """The sample rate of the audio the call's codec carries: 16000 on an HD-voice (G.722)
    call answered by the gateway (docs/hd-voice.md), whose agent may then take the caller's
    audio in a 16 kHz :attr:`Agent.audio_format` it declares; 8000 otherwise."""


NO_DETAILS = CallDetails()
"""A call that carries nothing more (no variables, nothing from the network)."""

FRAME_BYTES: Final = 160
"""One 20 ms frame of 8 kHz μ-law."""


class CallControl(Protocol):
    """What an agent can see of and do to its call."""

    @property
    def call_id(self) -> str:
        """The SIP Call-ID."""
        ...

    @property
    def caller(self) -> str:
        """The caller's URI (From), e.g. ``sip:+15551234567@trunk.example``."""
        ...

    @property
    def called(self) -> str:
        """The called URI (To)."""
        ...

    @property
    def direction(self) -> Direction:
        """``outbound`` when the gateway placed the call: the agent speaks first."""
        ...

    @property
    def verified_caller(self) -> str:
        """The other party's number as far as it is proven, "" when it is not: on an
        incoming call the number a trusted trunk asserted (P-Asserted-Identity from a
        source the operator named), never the From (anyone can write any From); on a call
        the gateway placed, the number it dialled and reached."""
        ...

    @property
    def purpose(self) -> CallPurpose | None:
        """Why an outbound call was placed (None for inbound calls and plain outbound ones)."""
        ...

    @property
    def leg(self) -> str:
        """How the caller reached us: ``sip``, ``twilio`` (Media Streams) or ``browser``."""
        ...

    @property
    def details(self) -> CallDetails:
        """The call's variables and what the caller's network said (:class:`CallDetails`)."""
        ...

    def hangup(self, status: int = 480) -> None:
        """End the call (BYE, or, while it is not answered yet, a refusal with ``status``:
        480 Temporarily Unavailable, 486 Busy Here, ...; RFC 3261 section 21.4)."""
        ...

    def send_dtmf(self, digits: str) -> None:
        """Send keypad digits to the caller as RFC 4733 events.

        Raises:
            DialRefused: the digits are not on the operator's allow-list
                (``sipgw.agent.dialpolicy``): nothing was sent.
        """
        ...

    async def transfer(self, target: str, summary: str = "") -> bool:
        """Blind transfer to ``target`` (SIP REFER, RFC 3515); True once the phone accepted it.

        When the target then answers, the gateway ends this call; when it does
        not, :meth:`Agent.on_transfer_failed` is called and the call goes on. When the
        phone refuses the REFER, :meth:`Agent.on_transfer_refused` is told its answer first.
        ``summary`` (a line about the call for the person who takes it) goes with the
        REFER as User-to-User data when the operator turned that on
        (``SIPGW_TRANSFER_SUMMARY``).

        Raises:
            DialRefused: ``target`` is not on the operator's allow-list
                (``sipgw.agent.dialpolicy``): no REFER was sent.
        """
        ...

    def audio_ready(self, continuing: bool = False) -> None:
        """Agent audio is waiting after a silence: send its first frame now, not at the tick.

        Optional fast path; the frame comes from :meth:`Agent.next_frame` and takes
        the next tick's place, so pacing and timestamps are unchanged. ``continuing``: the
        audio comes in real time and had run out, not after a silence (the twiml agent's
        app): its frame may go ahead too (one per tick all the same).
        """
        ...

    def clear_audio(self) -> int:
        """Barge-in: drop the agent audio the leg still holds for the caller, unplayed.

        Returns how many of the frames :meth:`Agent.next_frame` gave were sent but
        never heard (a Twilio stream's buffer, known from its marks); 0 on SIP, where a
        frame sent is a frame heard. The agent takes them off what it says was heard.
        """
        ...


class Agent(ABC):
    """One call's agent. Subclass it and return instances from an :data:`AgentFactory`.

    What the gateway gives an agent beyond this interface (the caller's audio as it
    arrives, the keypad, transfers, the legs it takes) is declared once by its factory, in
    an :class:`sipgw.agent.capabilities.AgentCapabilities` record, never read off the agent.

    Attributes:
        observer: set by the gateway before :meth:`prepare`: where the agent
            reports turn latencies, barge-ins and AI service errors for the
            metrics (:mod:`sipgw.agent.observer`); None reports nothing.
        span: set by the gateway before :meth:`prepare`: the call's trace span, under
            which the agent opens its turns' spans (:mod:`sipgw.foundation.tracing`);
            :data:`~sipgw.foundation.tracing.NO_SPAN` when tracing is off.
        audio_format: the frames the agent takes (:meth:`on_caller_frame`,
            :meth:`on_caller_audio`) and gives (:meth:`next_frame`), 20 ms each:
            8 kHz μ-law (:data:`FRAME_BYTES` octets) unless it says otherwise, e.g.
            ``sipgw.media.codecs.PCM16_16K``; the call's media converts to and from the
            wire codec in one place (``media/codecs/convert.py``). Set per class, or per
            call in the constructor (e.g. 16 kHz on an HD-voice call:
            :attr:`CallDetails.sample_rate`); every format must be among those its factory
            declares (``AgentCapabilities.audio``).
        caller_format: the frames it takes when they differ from those it gives (the
            assistant on a G.722 call whose speech-to-text vendor has no 16 kHz stream
            hears 8 kHz μ-law and speaks 16 kHz); None: :attr:`audio_format` both ways.
    """

    audio_format: AudioFormat = ULAW_8K
    caller_format: AudioFormat | None = None
    observer: AgentObserver | None = None
    span: Span = NO_SPAN
    record: CallRecord | None = None
    """The call record it keeps, if any (the dashboard follows its lines)."""

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Called right before the answer: open connections here so the answer is not late.

        The gateway calls it once the call is admitted and has rung for the
        configured ring time (the phone still rings: a 180 went out), and
        answers when it returns. If it raises, the call is rejected with 503 so that a trunk or a
        load balancer can try another gateway.
        """

    def on_answered(self) -> None:  # noqa: B027 - optional hook
        """The 200 OK went out; media flows from now on."""

    @abstractmethod
    def on_caller_frame(self, frame: bytes | None) -> None:
        """One 20 ms frame of the caller's audio, or None when nothing was received."""

    def on_caller_audio(self, frame: bytes) -> None:  # noqa: B027 - optional hook
        """The caller's next 20 ms (in :attr:`audio_format`) on a real-time timeline, at arrival.

        Called from the packet receive path, outside the ticker, when its factory
        declares ``arrival_audio`` (:class:`sipgw.agent.capabilities.AgentCapabilities`); a
        lost packet comes concealed
        (``media/plc.py``, 60 ms at most), pauses as silence.
        Must return at once.
        """

    @abstractmethod
    def next_frame(self) -> bytes | None:
        """The next 20 ms of agent audio, or None for silence."""

    def on_dtmf(self, digit: str) -> None:  # noqa: B027 - optional hook
        """A keypad digit from the caller (RFC 4733 or SIP INFO)."""

    def follow_twiml(self, url: str | None, twiml: str | None) -> bool:
        """A mid-call update asks the call to run new TwiML (Twilio's call update: a ``Url``
        to fetch or a ``Twiml`` document). True when the agent took it; an agent that does
        not run TwiML keeps the default, False.

        Raises:
            ValueError: ``twiml`` is not a TwiML document it can run (the message says why).
        """
        return False

    def on_transfer_refused(self, status: int, reason: str) -> None:  # noqa: B027 - optional hook
        """The caller's phone refused a transfer (its final response to the REFER, e.g. 403,
        405, 603; 408 when none came), just before :meth:`CallControl.transfer` returns
        False; the caller is still on this call."""

    def on_transfer_failed(self, status: int, reason: str) -> None:  # noqa: B027 - optional hook
        """A transfer the caller's phone accepted did not reach the target (its NOTIFY said so).

        ``status`` and ``reason`` are the target's final answer, e.g. 486 Busy Here;
        the caller is still on this call.
        """

    def on_refer(self, referral: Referral) -> None:
        """The other party asked to transfer the call (a SIP REFER). The default declines
        (603): only an agent that can carry a transfer out (a TwiML ``<Dial referUrl>``'s
        leg) takes one."""
        referral.refuse(603)

    def on_hold(self, held: bool) -> None:  # noqa: B027 - optional hook
        """The caller put the call on hold (``held``: a re-INVITE with ``a=sendonly`` or
        ``a=inactive``), or resumed it.

        While held, :meth:`next_frame` is not called (nothing is sent), and what arrives
        from the caller's side is their hold music, not their speech.
        """

    def on_quality(self, quality: CallQuality) -> None:  # noqa: B027 - optional hook
        """The call's media quality figures (loss, jitter, RTT, MOS), once, as the call ends."""

    async def say_goodbye(self, text: str) -> None:  # noqa: B027 - optional hook
        """Say ``text`` to the caller; return once it has been played out.

        The gateway calls it when a drain's limit passes, then hangs up; it cancels
        the call if it takes too long. The default (the echo agent) says nothing and
        returns at once.
        """

    async def close(self, reason: str = "") -> None:  # noqa: B027 - optional hook
        """The call ended (``reason``: e.g. ``remote-bye``): release what :meth:`prepare` opened."""


class Referral(Protocol):
    """The other party asked to be transferred elsewhere (a SIP REFER it sent on the call,
    RFC 3515): :meth:`Agent.on_refer` answers it with :meth:`accept` or :meth:`refuse`, then
    reports how it went with :meth:`report`. Each returns at once."""

    @property
    def refer_to(self) -> str:
        """The ``Refer-To`` header as received (``<sip:bob@example.com>``)."""
        ...

    @property
    def target(self) -> str:
        """Its URI, e.g. ``sip:bob@example.com`` or ``tel:+15551234567``."""
        ...

    def accept(self) -> None:
        """Take it on (202 Accepted; the first NOTIFY says ``100 Trying``)."""
        ...

    def refuse(self, status: int = 603) -> None:
        """Decline it (``status``: 403, 603...); nothing else follows."""
        ...

    def report(self, status: int, reason: str = "") -> None:
        """How the transfer went (a NOTIFY: 200 OK, or a failure's status); from 200 the last."""
        ...


AgentFactory = Callable[[CallControl], Agent]
"""Builds the agent of a new call."""


# -- answering later: an agent that runs while its call still rings
# Answering later: an agent that runs while its call still rings (TwiML's
# ``<Dial answerOnBridge>``).
#
# By default the gateway answers an incoming call (200 OK) once its agent is prepared, and the
# agent starts (:meth:`~sipgw.agent.base.Agent.on_answered`). An agent that says so after
# :meth:`~sipgw.agent.base.Agent.prepare` (:class:`DefersAnswer`: ``answer_deferred``) is
# started with the call unanswered instead: the gateway sends 183 Session Progress with its
# SDP (early media, RFC 3960's gateway model), so the caller hears what the agent sends,
# and answers the call when the agent asks (:class:`AnswersLater`: ``answer_now()``). Until
# then the call is not answered: hanging it up refuses the INVITE (a final error status),
# it is no BYE. A call that cannot wait (not one of the gateway's incoming SIP calls) is no
# :class:`AnswersLater`: the agent then runs answered, as always.


@runtime_checkable
class DefersAnswer(Protocol):
    """An agent that may ask to run before its call is answered."""

    @property
    def answer_deferred(self) -> bool:
        """Read once :meth:`~sipgw.agent.base.Agent.prepare` returns: True to be started
        with the call unanswered (early media)."""
        ...


@runtime_checkable
class AnswersLater(Protocol):
    """A call that can stay unanswered, with early media, while its agent runs."""

    answer_now: Callable[[], None] | None
    """Answers the call (200 OK) while it waits in early media (once); None: it does not
    wait (it was answered, or its agent did not defer the answer)."""
