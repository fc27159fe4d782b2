"""Which route an incoming call takes: by called number or user, account, source, caller.

A :class:`Route` holds a routes file's ``[[routes]]`` entry: what it matches and the line
it gives. Every criterion it names must match (an empty one matches every call); a
criterion with several values matches when one of them does. The first route that
matches wins (:func:`first_match`).

- ``called``: the user part of the ``To`` URI or of the Request-URI (a trunk sending to
  a registered contact keeps the dialled number in ``To``, one sending to an address
  puts it in the Request-URI).
- ``caller``: the user part of the ``From`` URI (``anonymous`` for a withheld number).
- ``account``: the account the call came through
  (:meth:`sipgw.app.lines.routing.AgentRoutes.account_for`).
- ``source``: the address the INVITE came from, an IP address or a network (a trunk's
  signalling addresses).
- ``verified``: what the caller's carrier asserts it verified of the caller's number
  (STIR/SHAKEN, :attr:`sipgw.sip.call.CallInfo.verification`): ``passed``, ``failed`` or
  ``none`` (nothing asserted, or not by a source the operator named).
- ``attestation``: the SHAKEN attestation level asserted (``A``, ``B``, ``C``); a call
  with none matches no value.

A called or caller :class:`UserPattern` is a number pattern (``+15550100``,
``+1555010[0-9]``, ``+1800*``, as in the dial allow-list:
:func:`sipgw.sip.dialpolicy.number_pattern`),
compared with the user part read as a number, or any other text, compared with the user
part exactly; ``*`` is any user.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sipgw.sip.call import CallInfo
from sipgw.sip.dialpolicy import PhoneNumber, number_pattern
from sipgw.sip.errors import SipError
from sipgw.sip.uri import SipUri, parse_uri

__all__ = ["Network", "Route", "UserPattern", "first_match", "user_of"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def user_of(uri: object) -> str:
    """The user part of a SIP URI (an object or its text); "" for anything else."""
    if isinstance(uri, str):
        try:
            uri = parse_uri(uri)
        except SipError:
            return ""
    return (uri.user or "") if isinstance(uri, SipUri) else ""


@dataclass(frozen=True, slots=True)
class UserPattern:
    """A number pattern, or a user name to match exactly, or ``*``."""

    text: str
    number: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> UserPattern:
        """``+1555*`` (a number pattern), ``sales`` (a user), or ``*``.

        Raises:
            ValueError: it looks like a number pattern but is not one.
        """
        value = text.strip()
        if not value:
            raise ValueError('an empty pattern (use "*" for any)')
        if value == "*" or not re.match(r"[+0-9\[]", value):
            return cls(value)
        return cls(value, number_pattern(value))

    def matches(self, user: str) -> bool:
        """Whether the user part ``user`` matches."""
        if self.text == "*":
            return True
        if self.number is None:
            return user == self.text
        number = PhoneNumber.parse(user)
        return number is not None and self.number.fullmatch(number.international) is not None


@dataclass(frozen=True, slots=True)
class Route:
    """One ``[[routes]]`` entry: what it matches, and its line."""

    line: str
    """The name of the line it gives."""
    called: tuple[UserPattern, ...] = ()
    accounts: tuple[str, ...] = ()
    sources: tuple[Network, ...] = ()
    callers: tuple[UserPattern, ...] = ()
    verified: tuple[str, ...] = ()
    """Verification statuses (:data:`sipgw.sip.verification.STATUSES`), any of them."""
    attestations: tuple[str, ...] = ()
    """Attestation levels (A, B, C), any of them."""
    where: str = ""
    """Where it was written, for messages (``routes.toml line 12``)."""

    def matches(self, call: CallInfo, account: str | None) -> bool:
        """Whether ``call`` (made to ``account``, if any) takes this route."""
        if self.called and not _any_user(
            self.called, (user_of(call.called.uri), user_of(call.request_uri))
        ):
            return False
        if self.callers and not _any_user(self.callers, (user_of(call.caller.uri),)):
            return False
        if self.accounts and account not in self.accounts:
            return False
        if self.verified and call.verification.status not in self.verified:
            return False
        if self.attestations and call.verification.attestation not in self.attestations:
            return False
        return not self.sources or _from_any(call, self.sources)


def _any_user(patterns: Iterable[UserPattern], users: Sequence[str]) -> bool:
    return any(pattern.matches(user) for pattern in patterns for user in users)


def _from_any(call: CallInfo, networks: Iterable[Network]) -> bool:
    source = call.source
    if source is None:
        return False
    try:
        address = ipaddress.ip_address(source.address[0])
    except ValueError:
        return False
    return any(address in network for network in networks)


def first_match(routes: Iterable[Route], call: CallInfo, account: str | None) -> Route | None:
    """The first route ``call`` takes, if any."""
    return next((route for route in routes if route.matches(call, account)), None)
