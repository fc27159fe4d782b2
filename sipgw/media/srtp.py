"""SRTP (RFC 3711) for one call, keyed by SDES (RFC 4568), on top of libsrtp.

Sans-IO: packets in, packets (or ``None``) out. :class:`SrtpContext` holds one
libsrtp session per direction: ours protects what we send, the peer's
unprotects what we receive. A packet that fails (bad authentication tag, a
replayed index, a key past its lifetime, garbage) is counted in
:class:`SrtpStats` and dropped: the call never sees an exception. Failures
that are not authentication, replay or expiry are counted by libsrtp's error
name with the packet's clear headers, and plain RTCP (which some peers send
unprotected) is told apart from SRTCP and counted on its own. Keys never
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

import struct
from dataclasses import dataclass, field
from typing import Final

import pylibsrtp

__all__ = [
    "KEY_LENGTH",
    "SRTCP_MIN_LENGTH",
    "SUITES",
    "SrtpContext",
    "SrtpKeying",
    "SrtpStats",
    "describe_packet",
    "is_plain_rtcp",
]

KEY_LENGTH: Final = 30
"""Bytes of master key (16) plus master salt (14) for both suites."""

# suite name -> (libsrtp profile, SRTP tag length); SRTCP's tag is 10 bytes for both.
_PROFILES: Final[dict[str, tuple[int, int]]] = {
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 10),
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 4),
}
_SRTCP_TAG: Final = 10
_SRTCP_INDEX: Final = 4
SRTCP_MIN_LENGTH: Final = 8 + _SRTCP_INDEX + _SRTCP_TAG
"""The shortest SRTCP packet (RFC 3711 §3.4): RTCP header and SSRC, E+index, tag."""

SUITES: Final[tuple[str, ...]] = tuple(_PROFILES)
"""The crypto suites we support, in our order of preference."""

_KEY_EXPIRED: Final = "can't use key any more"

# libsrtp's error strings (as pylibsrtp raises them) -> the srtp_err_status_* name they
# are counted under in SrtpStats.other_kinds. When unprotecting, auth and replay failures
# have counters of their own, and "can't use key any more" (libsrtp's own key limit)
# counts as expired; when protecting, every failure is an "other" one.
_LIBSRTP_ERRORS: Final[dict[str, str]] = {
    "unspecified failure": "fail",
    "unsupported parameter": "bad_param",
    "couldn't allocate memory": "alloc_fail",
    "authentication failure": "auth_fail",
    "cipher failure": "cipher_fail",
    "replay check failed (bad index)": "replay_fail",
    "replay check failed (index too old)": "replay_old",
    "no appropriate context found": "no_ctx",
    "unable to perform desired validation": "cant_check",
    _KEY_EXPIRED: "key_expired",
    "error parsing data": "parse_err",
    "error MKI present in packet is invalid": "bad_mki",
    "packet index is too old to consider": "pkt_idx_old",
    "packet index advanced, reset needed": "pkt_idx_adv",
    "packet is too long": "too_long",  # pylibsrtp's own ValueError: over its 1500-byte buffer
}


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
        other_errors: anything else libsrtp refused (truncated, too long, ...),
            either direction.
        other_kinds: ``other_errors`` by name: libsrtp's ``srtp_err_status_*``
            name without the prefix (``bad_param``, ``parse_err``,
            ``cant_check``, ...), ``protect:`` before it when protecting failed.
        last_other: what the last packet counted in ``other_errors`` looked
            like (:func:`describe_packet`: headers only, never a key).
        rtcp_protected: RTCP packets we protected.
        rtcp_unprotected: SRTCP packets that passed the checks.
        plain_rtcp: plain (unprotected) RTCP received on the SRTP call, told
            apart by :func:`is_plain_rtcp`: ignored, not an SRTP failure, not
            in :attr:`dropped`. baresip sends its RTCP BYE like this at hangup.
        last_plain: the last such packet's headers (:func:`describe_packet`).
    """

    protected: int = 0
    unprotected: int = 0
    auth_failed: int = 0
    replayed: int = 0
    expired: int = 0
    other_errors: int = 0
    other_kinds: dict[str, int] = field(default_factory=dict)
    last_other: str = ""
    rtcp_protected: int = 0
    rtcp_unprotected: int = 0
    plain_rtcp: int = 0
    last_plain: str = ""

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
        except (pylibsrtp.Error, ValueError) as exc:
            self._count_other(f"protect:{_error_name(exc)}", packet, rtcp=False)
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
            self._count(exc, packet, rtcp=False)
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
        except (pylibsrtp.Error, ValueError) as exc:
            self._count_other(f"protect:{_error_name(exc)}", packet, rtcp=True)
            return None
        self.stats.rtcp_protected += 1
        if out.mki:
            cut = len(protected) - _SRTCP_TAG
            return protected[:cut] + out.mki + protected[cut:]
        return protected

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """An SRTCP packet as RTCP, or None (counted) when it must be dropped.

        A packet that fails as SRTCP but is a well-formed plain RTCP compound
        packet (:func:`is_plain_rtcp`) is counted in ``plain_rtcp``, not as an
        SRTP failure: peers send some RTCP unprotected (baresip's BYE at hangup).
        """
        inbound = self._in
        mki = inbound.mki
        received = packet
        if mki:
            cut = len(packet) - _SRTCP_TAG
            if cut - len(mki) < 8 + _SRTCP_INDEX or packet[cut - len(mki) : cut] != mki:
                self._refused_rtcp(received, None)
                return None
            packet = packet[: cut - len(mki)] + packet[cut:]
        try:
            plain = inbound.session.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            self._refused_rtcp(received, exc)
            return None
        if not inbound.spend():
            self.stats.expired += 1
            return None
        self.stats.rtcp_unprotected += 1
        return plain

    def _count(self, exc: Exception, packet: bytes, rtcp: bool) -> None:
        message = str(exc)
        if message == "authentication failure":
            self.stats.auth_failed += 1
        elif message.startswith("replay check failed") or "too old" in message:
            self.stats.replayed += 1
        elif message == _KEY_EXPIRED:
            self.stats.expired += 1
        else:
            self._count_other(_error_name(exc), packet, rtcp)

    def _refused_rtcp(self, packet: bytes, exc: Exception | None) -> None:
        """Count a received packet that did not pass as SRTCP: plain RTCP apart, else the
        failure (``exc`` None: its MKI was not ours, an authentication failure)."""
        stats = self.stats
        if is_plain_rtcp(packet):
            stats.plain_rtcp += 1
            stats.last_plain = describe_packet(packet, rtcp=True)
        elif exc is None:
            stats.auth_failed += 1
        else:
            self._count(exc, packet, rtcp=True)

    def _count_other(self, kind: str, packet: bytes, rtcp: bool) -> None:
        stats = self.stats
        stats.other_errors += 1
        stats.other_kinds[kind] = stats.other_kinds.get(kind, 0) + 1
        stats.last_other = f"{kind}: {describe_packet(packet, rtcp)}"


def _error_name(exc: Exception) -> str:
    """libsrtp's name for the error pylibsrtp raised (``bad_param``, ...); its text if unknown."""
    message = str(exc)
    return _LIBSRTP_ERRORS.get(message, message)


def describe_packet(packet: bytes, rtcp: bool) -> str:
    """A dropped packet's clear-text headers for a log line (never a key or payload).

    RTP: length, version, payload type, sequence number, SSRC; RTCP: length,
    version, first packet type, SSRC and, when long enough to be SRTCP, the E
    flag and index of RFC 3711 §3.4 (assuming no MKI).
    """
    size = len(packet)
    if size < 2:
        return f"{'RTCP' if rtcp else 'RTP'} {size} bytes"
    version = packet[0] >> 6
    if rtcp:
        text = f"RTCP {size} bytes, v{version}, pt {packet[1]}"
        if size >= 8:
            text += f", ssrc {struct.unpack_from('!I', packet, 4)[0]:#010x}"
        if size >= SRTCP_MIN_LENGTH:
            (word,) = struct.unpack_from("!I", packet, size - _SRTCP_TAG - _SRTCP_INDEX)
            text += f", E {word >> 31}, index {word & 0x7FFF_FFFF}"
        return text
    text = f"RTP {size} bytes, v{version}, pt {packet[1] & 0x7F}"
    if size >= 12:
        seq, _, ssrc = struct.unpack_from("!HII", packet, 2)
        text += f", seq {seq}, ssrc {ssrc:#010x}, cc {packet[0] & 0x0F}, x {packet[0] >> 4 & 1}"
    return text


def is_plain_rtcp(packet: bytes) -> bool:
    """Whether a datagram is a whole plain RTCP compound packet (RFC 3550 §6.1).

    Every header has version 2 and an RTCP packet type (192..223, RFC 5761 §4),
    and their lengths add up to the datagram exactly. SRTCP does not: after its
    first header comes ciphertext, then the E flag and index and the tag
    (RFC 3711 §3.4). Only asked about a packet that already failed as SRTCP.
    """
    offset, size = 0, len(packet)
    if size < 8:
        return False
    while offset + 4 <= size:
        first, packet_type, words = struct.unpack_from("!BBH", packet, offset)
        if first >> 6 != 2 or not 192 <= packet_type <= 223:
            return False
        offset += 4 * (words + 1)
    return offset == size
