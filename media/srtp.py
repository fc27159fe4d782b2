"""SRTP (RFC 3711) for one call, keyed by SDES (RFC 4568), on top of libsrtp.

Sans-IO: packets in, packets (or ``None``) out. :class:`SrtpContext` holds one
libsrtp session per direction: ours protects what we send, the peer's
unprotects what we receive. A packet that fails (bad authentication tag, a
replayed index, a key past its lifetime, garbage) is counted in
:class:`SrtpStats` and dropped: the call never sees an exception. Keys never
appear in a ``repr`` or a log line.

Two SDES details libsrtp does not do for us:

- **MKI** (RFC 3711 §3.1): a peer may ask for a Master Key Identifier in each
  packet. With one key per direction (all we accept) the MKI is a constant
  field between the encrypted portion and the authentication tag, outside
  the authenticated portion: we insert it after protecting and remove it
  before unprotecting. SRTCP puts it after the E flag and index (§3.4).
- **Lifetime** (RFC 4568 §6.1): the most packets a key may protect. We count
  them and refuse (drop) past the limit, since SDES cannot rekey in place; a
  re-INVITE with a new key does.

The two crypto suites of RFC 4568 §6.2.1, both with a 30-byte key||salt:
``AES_CM_128_HMAC_SHA1_80`` (80-bit tag) and ``AES_CM_128_HMAC_SHA1_32``
(32-bit tag on SRTP; SRTCP always uses 80 bits, RFC 4568 §6.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pylibsrtp

__all__ = ["KEY_LENGTH", "SRTCP_MIN_LENGTH", "SUITES", "SrtpContext", "SrtpKeying", "SrtpStats"]

KEY_LENGTH = 30
"""Bytes of master key (16) plus master salt (14) for both suites."""

# suite name -> (libsrtp profile, SRTP tag length); SRTCP's tag is 10 bytes for both.
_PROFILES: dict[str, tuple[int, int]] = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 10),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 4),
}
_SRTCP_TAG = 10
_SRTCP_INDEX = 4
SRTCP_MIN_LENGTH = 8 + _SRTCP_INDEX + _SRTCP_TAG
"""The shortest SRTCP packet (RFC 3711 §3.4): RTCP header and SSRC, E+index, tag."""

SUITES: tuple[str, ...] = tuple(_PROFILES)
"""The crypto suites we support, in our order of preference."""


@dataclass(frozen=True, slots=True)
class SrtpKeying:
    """One direction's SDES keying: suite, master key and salt, MKI, lifetime.

    Attributes:
        suite: one of :data:`SUITES`.
        key: master key followed by master salt (:data:`KEY_LENGTH` bytes);
            never shown in ``repr``.
        mki: the MKI field as it appears in each packet (its length is the
            SDP's MKI length), or ``b""`` for none.
        lifetime: the most packets this key may protect, or None for the
            suite's own limit.
    """

    suite: str
    key: bytes = field(repr=False)
    mki: bytes = b""
    lifetime: int | None = None

    def __post_init__(self) -> None:
        """Reject keying no context could use.

        Raises:
            ValueError: an unknown suite, a key of the wrong length, an MKI
                longer than 128 bytes (RFC 4568 §9.2), or a lifetime below 1.
        """
        if self.suite not in _PROFILES:
            raise ValueError(f"unsupported SRTP crypto suite {self.suite!r}")
        if len(self.key) != KEY_LENGTH:
            raise ValueError(f"SRTP key||salt must be {KEY_LENGTH} bytes, not {len(self.key)}")
        if len(self.mki) > 128:
            raise ValueError("SRTP MKI longer than 128 bytes")
        if self.lifetime is not None and self.lifetime < 1:
            raise ValueError("SRTP key lifetime must be at least 1 packet")


@dataclass(slots=True)
class SrtpStats:
    """What one call's SRTP did; the failures are packets dropped.

    Attributes:
        protected: RTP packets we protected.
        unprotected: SRTP packets that passed authentication and replay checks.
        auth_failed: packets whose tag did not verify (tampered, wrong key,
            or not SRTP at all).
        replayed: packets whose index was seen before or is too old (RFC 3711 §3.3.2).
        expired: packets past the key's lifetime, either direction.
        other_errors: anything else libsrtp refused (truncated, too long, ...).
        rtcp_protected: RTCP packets we protected.
        rtcp_unprotected: SRTCP packets that passed the checks.
    """

    protected: int = 0
    unprotected: int = 0
    auth_failed: int = 0
    replayed: int = 0
    expired: int = 0
    other_errors: int = 0
    rtcp_protected: int = 0
    rtcp_unprotected: int = 0

    @property
    def dropped(self) -> int:
        """Packets dropped for any reason."""
        return self.auth_failed + self.replayed + self.expired + self.other_errors


class _Direction:
    """One direction's libsrtp session, its MKI splice and its lifetime count."""

    __slots__ = ("keying", "remaining", "session", "tag", "mki")

    def __init__(self, keying: SrtpKeying, outbound: bool) -> None:
        profile, tag = _PROFILES[keying.suite]
        ssrc_type = (
            pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
        )
        policy = pylibsrtp.Policy(key=keying.key, ssrc_type=ssrc_type, srtp_profile=profile)
        self.session = pylibsrtp.Session(policy)
        self.keying = keying
        self.tag = tag
        self.mki = keying.mki
        # RFC 4568 §6.1: lifetime counts SRTP and SRTCP packets alike.
        self.remaining = keying.lifetime

    def __repr__(self) -> str:
        return f"<SRTP {self.keying.suite}>"

    def spend(self) -> bool:
        """Count one packet against the lifetime; False once it is used up."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class SrtpContext:
    """SRTP for one call: protect what we send, unprotect what we receive.

    Args:
        outbound: our keying (the key in our SDP's ``a=crypto``).
        inbound: the peer's keying (the key in its ``a=crypto``).
    """

    __slots__ = ("_in", "_out", "stats")

    def __init__(self, outbound: SrtpKeying, inbound: SrtpKeying) -> None:
        self._out = _Direction(outbound, outbound=True)
        self._in = _Direction(inbound, outbound=False)
        self.stats = SrtpStats()

    def __repr__(self) -> str:
        return f"<SrtpContext out={self._out.keying.suite} in={self._in.keying.suite}>"

    @property
    def outbound(self) -> SrtpKeying:
        """The keying we protect with."""
        return self._out.keying

    @property
    def inbound(self) -> SrtpKeying:
        """The keying we unprotect with."""
        return self._in.keying

    def rekey(self, outbound: SrtpKeying, inbound: SrtpKeying) -> None:
        """Apply new keying after a re-negotiation; a direction whose keying is
        unchanged keeps its session (its rollover counter and replay window).
        """
        if outbound != self._out.keying:
            self._out = _Direction(outbound, outbound=True)
        if inbound != self._in.keying:
            self._in = _Direction(inbound, outbound=False)

    # ------------------------------------------------------------------ RTP

    def protect(self, packet: bytes) -> bytes | None:
        """An RTP packet as SRTP, or None (counted) if it cannot be protected."""
        out = self._out
        if not out.spend():
            self.stats.expired += 1
            return None
        try:
            protected = out.session.protect(packet)
        except (pylibsrtp.Error, ValueError):
            self.stats.other_errors += 1
            return None
        self.stats.protected += 1
        if out.mki:
            cut = len(protected) - out.tag
            return protected[:cut] + out.mki + protected[cut:]
        return protected

    def unprotect(self, packet: bytes) -> bytes | None:
        """An SRTP packet as RTP, or None (counted) when it must be dropped."""
        inbound = self._in
        mki = inbound.mki
        if mki:
            cut = len(packet) - inbound.tag
            if cut - len(mki) < 12 or packet[cut - len(mki) : cut] != mki:
                self.stats.auth_failed += 1  # RFC 3711 §3.3: unknown MKI, drop
                return None
            packet = packet[: cut - len(mki)] + packet[cut:]
        try:
            plain = inbound.session.unprotect(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            self._count(exc)
            return None
        if not inbound.spend():
            self.stats.expired += 1
            return None
        self.stats.unprotected += 1
        return plain

    # ------------------------------------------------------------------ RTCP

    def protect_rtcp(self, packet: bytes) -> bytes | None:
        """An RTCP compound packet as SRTCP, or None (counted)."""
        out = self._out
        if not out.spend():
            self.stats.expired += 1
            return None
        try:
            protected = out.session.protect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            self.stats.other_errors += 1
            return None
        self.stats.rtcp_protected += 1
        if out.mki:
            cut = len(protected) - _SRTCP_TAG
            return protected[:cut] + out.mki + protected[cut:]
        return protected

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """An SRTCP packet as RTCP, or None (counted) when it must be dropped."""
        inbound = self._in
        mki = inbound.mki
        if mki:
            cut = len(packet) - _SRTCP_TAG
            if cut - len(mki) < 8 + _SRTCP_INDEX or packet[cut - len(mki) : cut] != mki:
                self.stats.auth_failed += 1
                return None
            packet = packet[: cut - len(mki)] + packet[cut:]
        try:
            plain = inbound.session.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            self._count(exc)
            return None
        if not inbound.spend():
            self.stats.expired += 1
            return None
        self.stats.rtcp_unprotected += 1
        return plain

    def _count(self, exc: Exception) -> None:
        message = str(exc)
        if message == "authentication failure":
            self.stats.auth_failed += 1
        elif message.startswith("replay check failed") or "too old" in message:
            self.stats.replayed += 1
        else:
            self.stats.other_errors += 1
