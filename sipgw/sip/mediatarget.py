"""Where a peer may ask us to send media: the ``c=`` address of its SDP, sans-IO.

Anyone who can send an INVITE can write any address into ``c=``, and our RTP
would go there: 50 packets a second at a host that never asked for them. So
an offer or answer is refused (488, with a Warning saying why) unless its
address is

1. an IP literal: a host name is never resolved (whose DNS would we trust,
   and when?); ``0.0.0.0`` and ``::`` are the old way to put a call on hold
   (RFC 3264 §8.4) and get nothing sent, so they pass;
2. a unicast address: not multicast, not the IPv4 broadcast address, not a
   reserved one (240.0.0.0/4 and the like);
3. loopback or link-local only when the signalling came from such an address
   too (a softphone on the same machine, a phone on the same link), since
   otherwise it aims at the gateway's own host or network;
4. inside the media networks of the trunk the signalling came from, when the
   operator listed them (:class:`MediaRange`): a provider that publishes its
   media servers' addresses gets its calls' media sent nowhere else.

Private (RFC 1918) addresses pass: PBXs and phones on a LAN use them, and a
caller behind a NAT writes one (its RTP then arrives from the NAT, see
:mod:`sipgw.media.latching`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sipgw.sip.access import Network
from sipgw.sip.addressing import IPAddress, ip_literal
from sipgw.sip.errors import SdpError

__all__ = ["MediaAddressRefused", "MediaRange", "MediaTargetPolicy"]

_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class MediaAddressRefused(SdpError):
    """An SDP whose ``c=`` we will not send media to (488, Warning 399 with why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_hint=488)


@dataclass(frozen=True, slots=True)
class MediaRange:
    """The networks one trunk's media may come from and go to.

    Attributes:
        signalling: calls signalled from here (the trunk's SIP addresses) ...
        media: ... may name only these networks in ``c=``.
    """

    signalling: Network
    media: tuple[Network, ...]


@dataclass(frozen=True, slots=True)
class MediaTargetPolicy:
    """Which ``c=`` addresses are acceptable; see the module docstring.

    Attributes:
        ranges: per-trunk media networks; the first whose ``signalling``
            holds the signalling source applies. Sources in none are held to
            rules 1-3 only.
    """

    ranges: tuple[MediaRange, ...] = ()

    def check(self, address: str, signalling_source: str) -> None:
        """Accept ``address`` (from ``c=``) for a call signalled from ``signalling_source``.

        Raises:
            MediaAddressRefused: why it is not acceptable.
        """
        reason = self.refusal(address, signalling_source)
        if reason is not None:
            raise MediaAddressRefused(f"media address {_printable(address)} refused: {reason}")

    def refusal(self, address: str, signalling_source: str) -> str | None:
        """Why ``address`` is not acceptable for a call signalled from there; None if it is."""
        target = ip_literal(address.split("/")[0].strip())  # no TTL
        if target is None:
            return "not an IP address (host names are not resolved)"
        if target.is_unspecified:
            return None  # hold (RFC 3264 §8.4): nothing is sent there
        if target.is_multicast or target == _BROADCAST:
            return "not a unicast address"
        source = ip_literal(signalling_source.split("/")[0].strip())
        if target.is_loopback and not (source is not None and source.is_loopback):
            return "a loopback address, and the call did not come from this host"
        if target.is_link_local and not (source is not None and source.is_link_local):
            return "a link-local address, and the call did not come from that link"
        if target.is_reserved and not target.is_loopback:
            return "a reserved address"
        if source is not None:
            for entry in self.ranges:
                if _within(source, entry.signalling):
                    if any(_within(target, network) for network in entry.media):
                        return None
                    return f"outside the media networks of the trunk at {signalling_source}"
        return None


def _within(address: IPAddress, network: Network) -> bool:
    return address.version == network.version and address in network


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() and ch != '"' else "?" for ch in text)[:64]
