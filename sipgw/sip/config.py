"""Settings of the SIP user agent core (one frozen dataclass, read by every usage)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sipgw.sip.limits import MessageLimits
from sipgw.sip.mediatarget import MediaTargetPolicy
from sipgw.sip.offeranswer import G711, RtpCodec
from sipgw.sip.sdes import SrtpPolicy
from sipgw.sip.timers import TimerValues

__all__ = ["UserAgentConfig"]


@dataclass(frozen=True, slots=True)
class UserAgentConfig:
    """Settings of the user agent core.

    Attributes:
        public_host: the address peers reach us at; goes into Via, Contact and SDP.
        sip_port: our SIP port as peers see it (the default transport's).
        transport: the default transport (requests whose next hop names none).
        listeners: every transport we listen on and its port as peers see it,
            e.g. ``(("UDP", 5060), ("TCP", 5060), ("TLS", 5061))``; empty =
            only ``transport`` on ``sip_port``. Via sent-by and Contact of a
            message name the port of the transport it is sent on.
        codecs: audio codecs we offer and answer with, in preference order (the gateway
            gives the media layer's, media/codecs).
        telephone_event: whether to negotiate RFC 4733 DTMF.
        ptime: our packetization time in ms when the offer does not ask for one.
        max_calls: concurrent calls accepted before answering 503; None = no limit.
        nat_fix: send in-dialog requests to where the INVITE came from when its
            Contact is a private address (a caller behind NAT).
        min_session_expires: our Min-SE for RFC 4028 session timers, seconds.
        user_agent: the User-Agent of our requests and the Server of our responses;
            "" = neither header (the default: nothing that names the software or its
            version to a scanner).
        sdp_username: the ``o=`` user name of our SDP; ``-`` = none (RFC 4566 §5.2).
        sdp_session_name: the ``s=`` line of our SDP; ``-`` = none (RFC 4566 §5.3).
        timers: SIP timer base values (T1, T2, T4).
        srtp_policy: when calls may use SRTP, by signalling transport
            (:mod:`sipgw.sip.sdes`).
        limits: the largest message parsed; requests over them get 413, 414
            or 513 (:mod:`sipgw.sip.limits`).
        media_targets: which ``c=`` addresses we send media to, with the media
            networks of each trunk the operator listed (:mod:`sipgw.sip.mediatarget`);
            an SDP naming another gets 488.
    """

    public_host: str
    sip_port: int
    transport: str = "UDP"
    listeners: tuple[tuple[str, int], ...] = ()
    codecs: tuple[RtpCodec, ...] = G711
    telephone_event: bool = True
    ptime: int = 20
    max_calls: int | None = None
    nat_fix: bool = True
    min_session_expires: int = 90
    user_agent: str = ""
    sdp_username: str = "-"
    sdp_session_name: str = "-"
    timers: TimerValues = field(default_factory=TimerValues)
    srtp_policy: SrtpPolicy = SrtpPolicy.TLS_ONLY
    limits: MessageLimits = field(default_factory=MessageLimits)
    media_targets: MediaTargetPolicy = field(default_factory=MediaTargetPolicy)

    @property
    def sent_by(self) -> str:
        """host:port for our Via headers over the default transport."""
        return self.sent_by_for(self.transport)

    def port_for(self, transport: str) -> int:
        """Our port for ``transport`` as peers see it (``sip_port`` if not listed)."""
        transport = transport.upper()
        for name, port in self.listeners:
            if name.upper() == transport:
                return port
        return self.sip_port

    def sent_by_for(self, transport: str) -> str:
        """host:port for the Via of a message sent over ``transport`` (RFC 3261 §18.1.1)."""
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"{host}:{self.port_for(transport)}"

    def contact(self, user: str, transport: str, secure: bool = False) -> str:
        """Our Contact (``<...>``) for a dialog whose messages go over ``transport``.

        ``secure`` (a SIPS dialog, RFC 3261 §12.1.1, over TLS only) gives a
        ``sips:`` URI; otherwise a non-UDP transport is named with
        ``;transport=`` so the peer comes back over it (RFC 3261 §19.1.1).
        An empty ``user`` gives a URI without a user part.
        """
        transport = transport.upper()
        hostport = self.sent_by_for(transport)
        userinfo = f"{user}@" if user else ""
        if secure and transport == "TLS":
            return f"<sips:{userinfo}{hostport}>"
        suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{userinfo}{hostport}{suffix}>"
