"""Where each trunk's media may go: ``SIPGW_MEDIA_NETWORKS`` and an account's ``media_networks``.

A provider publishes the addresses of its media servers beside those of its
signalling (Twilio, Telnyx and Plivo all do). The SIP core refuses an SDP whose
``c=`` names anything else for a call signalled from that trunk
(:class:`sipgw.sip.mediatarget.MediaTargetPolicy`, 488 with a Warning). Here the
settings become those ranges:

* an account in the accounts file with ``media_networks`` (a list of IP addresses
  and CIDRs): calls signalled from its registrar's and outbound proxy's addresses;
* ``SIPGW_MEDIA_NETWORKS``: calls from every other source admitted by address
  (``--allow-from``, else the registrars and proxies; with ``--allow-from any``,
  every source).

Host names among the signalling sources are resolved once at start-up, as the
access list's are (:func:`build_media_targets`). Media addresses must be IP
literals: the SDP names one, and a name would be resolved by nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from sipgw.sip.access import Network, parse_network
from sipgw.sip.mediatarget import MediaRange, MediaTargetPolicy

__all__ = ["TrunkMedia", "build_media_targets", "media_networks", "trunk_media"]

_EVERYONE = ("0.0.0.0/0", "::/0")

Resolver = Callable[[str], Awaitable[Sequence[str]]]


def media_networks(value: str) -> tuple[str, ...]:
    """Comma-separated IP addresses and CIDRs (no host names); "" = none.

    Raises:
        ValueError: an entry is neither.
    """
    entries = tuple(entry.strip() for entry in value.split(",") if entry.strip())
    for entry in entries:
        try:
            parse_network(entry)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or a CIDR such as 203.0.113.0/24 (media "
                "addresses are IP literals: no host names)"
            ) from None
    return entries


@dataclass(frozen=True, slots=True)
class TrunkMedia:
    """One trunk's rule, as configured (names not yet resolved).

    Attributes:
        signalling: where its calls are signalled from: host names, addresses, CIDRs.
        media: the networks their ``c=`` may name.
        origin: what configured it, for the start-up line.
    """

    signalling: tuple[str, ...]
    media: tuple[str, ...]
    origin: str


def trunk_media(
    allow_from: tuple[str, ...],
    upstreams: tuple[str, ...],
    general: tuple[str, ...],
    accounts: Iterable[tuple[str, tuple[str, ...], tuple[str, ...]]] = (),
) -> tuple[TrunkMedia, ...]:
    """The rules: each account's own first (``(name, its upstream hosts, its networks)``),
    then ``general`` (``SIPGW_MEDIA_NETWORKS``) for the other sources admitted by address."""
    rules = [
        TrunkMedia(hosts, networks, f"account {name!r}")
        for name, hosts, networks in accounts
        if networks
    ]
    if general:
        sources: tuple[str, ...]
        if allow_from == ("any",):
            sources = _EVERYONE
        else:
            sources = tuple(dict.fromkeys((*allow_from, *upstreams)))
        if sources:
            rules.append(TrunkMedia(sources, general, "SIPGW_MEDIA_NETWORKS"))
    return tuple(rules)


async def build_media_targets(
    rules: Sequence[TrunkMedia], resolve: Resolver, log: logging.Logger
) -> MediaTargetPolicy:
    """The SIP core's policy for ``rules``, host names resolved; one start-up line each.

    A signalling host that does not resolve is logged and left out (the access list
    refuses calls from it anyway, until a restart resolves it).
    """
    ranges: list[MediaRange] = []
    for rule in rules:
        media = tuple(parse_network(network) for network in rule.media)
        signalling: list[Network] = []
        for host in rule.signalling:
            try:
                signalling.append(parse_network(host))
                continue
            except ValueError:
                pass
            try:
                signalling.extend(parse_network(address) for address in await resolve(host))
            except OSError as exc:
                log.warning("media: cannot resolve %s (%s) for %s", host, exc, rule.origin)
        ranges.extend(MediaRange(network, media) for network in signalling)
        log.info(
            "media: calls from %s (%s) send their RTP only to %s",
            ", ".join(rule.signalling), rule.origin, ", ".join(rule.media),
        )  # fmt: skip
    return MediaTargetPolicy(tuple(ranges))
