"""SDES (RFC 4568): which ``a=crypto`` lines we take, and when SRTP is allowed at all.

Sans-IO and pure, used by :mod:`sipgw.sip.offeranswer`. The keys themselves are
turned into SRTP contexts by the media layer; here they are only chosen.

Policy (RFC 4568 §8.3): SDES keys travel inside the SDP, in the clear unless
the signalling is protected. :class:`SrtpPolicy` is the operator's rule and
:func:`srtp_use` turns it, with the call's signalling transport, into what one
call may do (:class:`SrtpUse`):

============== ============================ ==================================
policy         signalled over TLS           signalled over UDP or TCP
============== ============================ ==================================
``tls-only``   SRTP offered; SRTP or RTP    RTP only (an RTP/SAVP offer: 488)
               answered
``tls-required`` SRTP only (RTP/AVP: 488)   RTP only (an RTP/SAVP offer: 488)
``allow-insecure`` as ``tls-only``          SRTP or RTP answered; RTP offered
``off``        RTP only                     RTP only
============== ============================ ==================================

Which lines are usable (RFC 4568 §6, §7.1.1): a supported suite, exactly one
``inline:`` key of 30 bytes, a lifetime of at least :data:`MIN_LIFETIME`
packets (we cannot rekey during a call), any MKI (the media layer carries it),
and no session parameter we would have to honour: ``WSH=`` (a hint) and
parameters starting with ``-`` (RFC 4568 §6.3.7: may be ignored) are
accepted; ``UNENCRYPTED_SRTP``, ``UNAUTHENTICATED_SRTP``, ``KDR=``,
``FEC_KEY=`` and the rest make the line unusable.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sipgw.sip.errors import SdpError
from sipgw.sip.sdp import CryptoAttribute, InlineKey, MediaDescription

__all__ = [
    "KEY_SALT_LENGTH",
    "MIN_LIFETIME",
    "SUPPORTED_SUITES",
    "NegotiatedSrtp",
    "SrtpPolicy",
    "SrtpUse",
    "acceptable_crypto",
    "crypto_unusable_reason",
    "srtp_use",
]

#: The crypto suites we take, in the order we offer them (RFC 4568 §6.2).
SUPPORTED_SUITES: tuple[str, ...] = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")

#: Master key (16 bytes) plus master salt (14 bytes), both suites.
KEY_SALT_LENGTH = 30

#: The shortest key lifetime we accept, in packets: 2^20 is 5.8 hours of 20 ms audio.
MIN_LIFETIME = 2**20

_IGNORABLE_PARAMS = ("WSH=",)
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")


class SrtpPolicy(enum.Enum):
    """The operator's SRTP rule (the ``SIPGW_SRTP`` setting); see the module docstring."""

    TLS_ONLY = "tls-only"
    TLS_REQUIRED = "tls-required"
    ALLOW_INSECURE = "allow-insecure"
    OFF = "off"


class SrtpUse(enum.Enum):
    """What one call may do with SRTP, given the policy and its signalling transport."""

    OFF = "off"
    """RTP only: an RTP/SAVP stream is unusable (488 if nothing else is offered)."""
    ACCEPTED = "accepted"
    """Answer RTP/SAVP or RTP/AVP; our own offers are RTP/AVP."""
    PREFERRED = "preferred"
    """Answer RTP/SAVP or RTP/AVP; our own offers are RTP/SAVP."""
    REQUIRED = "required"
    """RTP/SAVP only, offered and answered."""

    @property
    def answers_srtp(self) -> bool:
        """Whether an RTP/SAVP offer may be accepted."""
        return self is not SrtpUse.OFF

    @property
    def offers_srtp(self) -> bool:
        """Whether our offers are RTP/SAVP."""
        return self in (SrtpUse.PREFERRED, SrtpUse.REQUIRED)


def srtp_use(policy: SrtpPolicy, transport: str) -> SrtpUse:
    """What a call signalled over ``transport`` (``UDP``, ``TCP``, ``TLS``) may do."""
    secure = transport.upper() == "TLS"
    if policy is SrtpPolicy.OFF:
        return SrtpUse.OFF
    if policy is SrtpPolicy.TLS_REQUIRED:
        return SrtpUse.REQUIRED if secure else SrtpUse.OFF
    if secure:
        return SrtpUse.PREFERRED
    return SrtpUse.ACCEPTED if policy is SrtpPolicy.ALLOW_INSECURE else SrtpUse.OFF


@dataclass(frozen=True, slots=True)
class NegotiatedSrtp:
    """The SRTP keying agreed for the audio stream; keys never in ``repr``.

    Attributes:
        tag: the ``a=crypto`` tag both sides used.
        suite: the crypto suite, one of :data:`SUPPORTED_SUITES`.
        local: our key (what we protect with).
        remote: the peer's key (what we unprotect with).
    """

    tag: int
    suite: str
    local: InlineKey
    remote: InlineKey


def crypto_unusable_reason(crypto: CryptoAttribute) -> str | None:
    """Why we cannot honour this ``a=crypto`` line, or None when we can."""
    if crypto.suite not in SUPPORTED_SUITES:
        return f"suite {crypto.suite} not supported"
    if len(crypto.keys) != 1:
        return "more than one key (MKI key switching) not supported"
    key = crypto.keys[0]
    if len(key.key_salt) != KEY_SALT_LENGTH:
        return f"key||salt is {len(key.key_salt)} bytes, not {KEY_SALT_LENGTH}"
    if key.lifetime is not None and key.lifetime < MIN_LIFETIME:
        return f"key lifetime {key.lifetime} is shorter than 2^20 packets"
    for param in crypto.session_params:
        if not param.startswith("-") and not param.upper().startswith(_IGNORABLE_PARAMS):
            name = param.partition("=")[0]
            shown = name if _PARAM_NAME.fullmatch(name) else "?"
            return f"session parameter {shown} not supported"
    return None


def acceptable_crypto(media: MediaDescription) -> CryptoAttribute:
    """The first ``a=crypto`` line of ``media`` that we can honour (RFC 4568 §7.1.1).

    Raises:
        SdpError: status_hint 488 with the reasons when there is none.
    """
    reasons: list[str] = []
    for crypto in media.crypto():
        if isinstance(crypto, SdpError):
            reasons.append(str(crypto))
            continue
        reason = crypto_unusable_reason(crypto)
        if reason is None:
            return crypto
        reasons.append(f"tag {crypto.tag}: {reason}")
    detail = "; ".join(reasons) if reasons else "no a=crypto line"
    raise SdpError(f"no usable SDES crypto ({detail})", status_hint=488)
