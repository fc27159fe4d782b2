"""What the application sees of a call: a read-only view the user agent keeps current.

The user agent core hands the application one :class:`CallInfo` per call, in
every event about that call, and takes it back in its actions (``ring``,
``answer``, ``reject``, ``hangup``, ``refer``). Everything that changes a
call (dialog, transactions, SDP, retransmissions, timers) is private to the
core; the view only reports the state, the negotiated media and, for an incoming
call, what its INVITE said about the caller beyond From and To
(:class:`~sipgw.sip.invitedetails.InviteDetails`).
"""

from __future__ import annotations

from enum import Enum, auto

from sipgw.sip.addressing import Flow
from sipgw.sip.headers import NameAddr
from sipgw.sip.invitedetails import InviteDetails
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.srs import RecordingRequest
from sipgw.sip.verification import NOT_VERIFIED, CallerVerification

__all__ = ["CallInfo", "CallKey", "CallState", "Direction"]

CallKey = tuple[str, str]
"""A call's stable key: its Call-ID and our tag (unique even when Call-IDs collide)."""


class Direction(Enum):
    """Who placed the call."""

    INBOUND = "inbound"
    """The peer called us (we are the UAS of the INVITE)."""
    OUTBOUND = "outbound"
    """We called the peer (:meth:`~sipgw.sip.useragent.UserAgent.call`)."""


class CallState(Enum):
    """Where a call is.

    Inbound: INCOMING → RINGING → ANSWERED (2xx sent) → CONFIRMED (ACK) →
    ENDING (our BYE in flight) → ENDED. CANCEL, a rejection or a BYE can end it
    earlier. Outbound: CALLING (INVITE sent) → EARLY (a provisional response
    came: ringing, maybe early media) → CONFIRMED (2xx received and ACKed) →
    ENDING → ENDED; a final error, a timeout or our CANCEL end it earlier.
    """

    INCOMING = auto()
    RINGING = auto()
    CALLING = auto()
    EARLY = auto()
    ANSWERED = auto()
    CONFIRMED = auto()
    ENDING = auto()
    ENDED = auto()


_NO_DETAILS = InviteDetails()


class CallInfo:
    """One call as the application sees it; every attribute is read-only.

    Hashable by identity, and :attr:`key` is stable for the call's lifetime,
    so either can key the application's own per-call table. The user agent core keeps
    it current (:meth:`update_state`, :meth:`update_media`); the application only reads.
    """

    __slots__ = (
        "_called",
        "_caller",
        "_details",
        "_direction",
        "_key",
        "_media",
        "_recording",
        "_request_uri",
        "_source",
        "_state",
        "_trusted_identity",
        "_verification",
    )

    def __init__(
        self,
        key: CallKey,
        caller: NameAddr,
        called: NameAddr,
        direction: Direction = Direction.INBOUND,
        details: InviteDetails | None = None,
        *,
        request_uri: str = "",
        source: Flow | None = None,
        trusted_identity: str = "",
        verification: CallerVerification = NOT_VERIFIED,
        recording: RecordingRequest | None = None,
    ) -> None:
        self._key = key
        self._recording = recording
        self._caller = caller
        self._called = called
        self._direction = direction
        self._request_uri = request_uri
        self._source = source
        self._state = CallState.INCOMING if direction is Direction.INBOUND else CallState.CALLING
        self._media: NegotiatedAudio | None = None
        self._details = details or _NO_DETAILS
        self._trusted_identity = trusted_identity  # from an INVITE of a trusted source
        self._verification = verification

    def __repr__(self) -> str:
        return f"<CallInfo {self.log_id} {self._state.name}>"

    @property
    def key(self) -> CallKey:
        """The call's stable key."""
        return self._key

    @property
    def call_id(self) -> str:
        """The SIP Call-ID."""
        return self._key[0]

    @property
    def direction(self) -> Direction:
        """Whether the peer called us or we called the peer."""
        return self._direction

    @property
    def outbound(self) -> bool:
        """Whether we placed the call."""
        return self._direction is Direction.OUTBOUND

    @property
    def caller(self) -> NameAddr:
        """Who is calling (the From of the INVITE: us, on an outbound call)."""
        return self._caller

    @property
    def called(self) -> NameAddr:
        """Who was called (the To of the INVITE: the peer, on an outbound call)."""
        return self._called

    @property
    def details(self) -> InviteDetails:
        """What the INVITE said beyond From and To: asserted identity, privacy, forwarding,
        ``X-`` headers (empty for a call we placed). Its asserted identity is what the
        INVITE said, believed or not: :attr:`trusted_identity` is the believed one."""
        return self._details

    @property
    def trusted_identity(self) -> str:
        """The caller's number as a trusted source asserted it: the P-Asserted-Identity
        (RFC 3325) of an INVITE from a source the operator named (:mod:`sipgw.sip.trustedid`);
        "" otherwise. The From (:attr:`caller`) proves nothing."""
        return self._trusted_identity

    @property
    def verification(self) -> CallerVerification:
        """What the caller's carrier asserts it verified of the caller's number (STIR/SHAKEN
        verstat or PASSporT, :mod:`sipgw.sip.verification`), read from an INVITE of a trusted
        source only; nothing asserted otherwise."""
        return self._verification

    @property
    def request_uri(self) -> str:
        """The INVITE's Request-URI as received (an incoming call; "" for ours): a trunk
        may put the dialled number there rather than in To."""
        return self._request_uri

    @property
    def recording(self) -> RecordingRequest | None:
        """What makes an incoming call a SIPREC recording session (RFC 7866: an SRC
        records a call to us, :mod:`sipgw.sip.srs`); None for an ordinary call."""
        return self._recording

    @property
    def source(self) -> Flow | None:
        """Where an incoming call's INVITE came from (transport, address); None for ours."""
        return self._source

    @property
    def log_id(self) -> str:
        """How log lines and the call feed name the call: its Call-ID, whole (cut short,
        Call-IDs alike at the start, as Twilio's Call SIDs may be, named two calls alike)."""
        return self._key[0]

    @property
    def state(self) -> CallState:
        """Where the call is now."""
        return self._state

    @property
    def media(self) -> NegotiatedAudio | None:
        """The media agreed so far (None until an offer/answer exchange completed)."""
        return self._media

    def update_state(self, state: CallState) -> None:
        """The call moved to ``state`` (the user agent core's, as the call runs)."""
        self._state = state

    def update_media(self, media: NegotiatedAudio) -> None:
        """An offer/answer exchange agreed ``media`` (the user agent core's)."""
        self._media = media

    def update_verification(self, verification: CallerVerification) -> None:
        """What the check of the INVITE's PASSporT signature found (the application's,
        which fetches the certificate before it routes the call:
        :mod:`sipgw.sip.passportcheck`)."""
        self._verification = verification

    @property
    def established(self) -> bool:
        """Whether a 2xx was sent or received and the call is not ending (media may flow)."""
        return self._state in (CallState.ANSWERED, CallState.CONFIRMED)
