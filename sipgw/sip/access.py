"""Who may call: the inbound access policy, sans-IO.

Theory of operation
-------------------
A request that would cost something - every request outside a dialog except
OPTIONS, CANCEL and ACK, in practice an INVITE that would start an AI
session - must pass :meth:`AccessPolicy.check` before the user agent core
hands it to a usage. The policy admits it when

1. its source address is in the allow list (:class:`AllowList`: IPv4 and
   IPv6 networks; "anyone" is the list ``0.0.0.0/0, ::/0``), or
2. it carries credentials the digest server accepts (RFC 3261 §22.2,
   RFC 8760). A request without them gets 401 with a challenge; a nonce it
   cannot use (expired, another source's, replayed, used up) gets a new
   challenge (``stale=true``, RFC 7616 §3.3) whatever the password; wrong
   credentials get 403, and so does every answer for a user in backoff after
   wrong passwords from its network (:mod:`sipgw.sip.guessing`), unchecked. Allowed sources
   never meet the backoff: they are not asked for credentials.

Everything else gets 403. A refused request never becomes a call: the core
answers it and reports a :class:`~sipgw.sip.events.RequestRefused` instead of a
:class:`~sipgw.sip.events.CallOffered`. In-dialog requests are not checked here:
they can only reach a call that was admitted (RFC 3261 §12.2.2).

The policy knows addresses only; the application resolves host names (its
allow-list entries, the registrar's and proxy's names) before building it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from sipgw.sip.addressing import ip_literal
from sipgw.sip.auth import DigestServer, Verdict
from sipgw.sip.message import SipRequest

__all__ = [
    "FREE_METHODS",
    "AccessPolicy",
    "AllowList",
    "Network",
    "Refusal",
    "Refused",
    "parse_network",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
"""One allow-list entry."""

FREE_METHODS = frozenset({"OPTIONS", "CANCEL", "ACK"})
"""Out-of-dialog methods anyone may send: they start nothing that costs."""


def parse_network(text: str) -> Network:
    """An IP address (a one-address network) or a CIDR such as ``10.0.0.0/8``.

    Host bits set in a CIDR are dropped (``10.1.2.3/8`` is ``10.0.0.0/8``).

    Raises:
        ValueError: ``text`` is neither.
    """
    return ipaddress.ip_network(text.strip(), strict=False)


class AllowList:
    """The source networks admitted without credentials.

    Args:
        networks: IPv4 and IPv6 networks; a single address is a /32 or /128.
    """

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        unique: dict[Network, None] = dict.fromkeys(networks)
        self.networks: tuple[Network, ...] = tuple(unique)

    @classmethod
    def anyone(cls) -> AllowList:
        """Every IPv4 and IPv6 source."""
        return cls((ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")))

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """A list from IP addresses and CIDRs (host names are the application's to resolve).

        Raises:
            ValueError: an entry is neither an address nor a CIDR.
        """
        return cls(parse_network(entry) for entry in entries)

    @property
    def admits_anyone(self) -> bool:
        """Whether every source, IPv4 and IPv6, is in the list."""
        return any(n.prefixlen == 0 for n in self.networks if n.version == 4) and any(
            n.prefixlen == 0 for n in self.networks if n.version == 6
        )

    def __contains__(self, host: object) -> bool:
        """Whether ``host`` (an IP literal; brackets allowed) is in one of the networks."""
        if not isinstance(host, str):
            return False
        address = ip_literal(host)
        if address is None:
            return False
        return any(address in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __str__(self) -> str:
        if self.admits_anyone:
            return "anyone"
        return ", ".join(
            str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
            for n in self.networks
        )

    def __repr__(self) -> str:
        return f"AllowList({str(self)!r})"


class Refusal(Enum):
    """Why a request was not admitted; the value is what logs show."""

    NOT_ALLOWED = "source not allowed"
    """The source is not in the allow list and no credentials are configured (403)."""
    CHALLENGED = "credentials requested"
    """No credentials, or a stale nonce: a digest challenge went back (401)."""
    BAD_CREDENTIALS = "wrong credentials"
    """The credentials did not verify: unknown user, wrong password (403)."""
    BACKOFF = "too many wrong passwords, answer not checked"
    """The user is in backoff after wrong passwords: 403, as for a wrong one."""
    PENDING = "the user's guessing state is being loaded"
    """Not answered yet: the user's guessing state is in a shared store
    (:attr:`~sipgw.sip.auth.Verdict.PENDING`); the request is verified again once it is
    loaded (:meth:`~sipgw.sip.useragent.UserAgent.awaiting_users`)."""

    @property
    def status(self) -> int:
        """The SIP status the request is answered with."""
        return 401 if self is Refusal.CHALLENGED else 403


@dataclass(frozen=True, slots=True)
class Refused:
    """The policy's "no": how to answer, and why.

    Attributes:
        refusal: the reason, which also gives the status (401 or 403).
        headers: header fields for the response (the WWW-Authenticate challenge).
        username: the user name the request's credentials gave, if any.
    """

    refusal: Refusal
    headers: tuple[tuple[str, str], ...] = ()
    username: str | None = None

    @property
    def status(self) -> int:
        """The SIP status to answer with."""
        return self.refusal.status


class AccessPolicy:
    """Decides which out-of-dialog requests are admitted; see the module docstring.

    Args:
        allow: sources admitted without credentials.
        digest: checks the credentials of everyone else; None = refuse them.
        named: whether ``allow`` lists sources the operator named (``--allow-from``, the
            registrar and proxy), whose asserted identities are believed (RFC 3325 §4:
            only from inside the trust domain); False for a default nobody chose (the
            lab's networks) and for anyone.
    """

    def __init__(
        self, allow: AllowList, digest: DigestServer | None = None, *, named: bool = True
    ) -> None:
        self.allow = allow
        self.digest = digest
        self.named = named and not allow.admits_anyone

    @classmethod
    def open(cls) -> AccessPolicy:
        """Admit everyone (``--allow-from any``)."""
        return cls(AllowList.anyone())

    def trusts(self, source: str) -> bool:
        """Whether ``source`` (an IP literal) is one the operator named: its
        P-Asserted-Identity may be believed."""
        return self.named and source in self.allow

    @staticmethod
    def guards(request: SipRequest) -> bool:
        """Whether ``request`` must pass :meth:`check`: outside a dialog, and it could cost."""
        return not request.to.tag and request.method not in FREE_METHODS

    def check(self, request: SipRequest, source: str, now: float) -> Refused | None:
        """None if ``request`` from ``source`` (an IP literal) is admitted, else why not."""
        if source in self.allow:
            return None
        if self.digest is None:
            return Refused(Refusal.NOT_ALLOWED)
        verdict = self.digest.verify(request, now, source)
        if verdict is Verdict.OK:
            return None
        if verdict is Verdict.PENDING:  # the name as given: the application loads its state
            return Refused(Refusal.PENDING, username=self.digest.username(request))
        username = _printable(self.digest.username(request))
        if verdict is Verdict.BAD:
            return Refused(Refusal.BAD_CREDENTIALS, username=username)
        if verdict is Verdict.BACKOFF:  # the same answer as a wrong password: no oracle
            return Refused(Refusal.BACKOFF, username=username)
        stale = verdict is Verdict.STALE  # a nonce it cannot use, the answer unchecked: a new one
        challenge = self.digest.challenge(now, source, stale=stale)
        return Refused(Refusal.CHALLENGED, (("WWW-Authenticate", challenge),), username)

    def describe(self) -> str:
        """Who is admitted, in one phrase for the start-up log."""
        if self.allow.admits_anyone:
            return "calls accepted from anyone"
        parts = []
        if self.allow:
            parts.append(f"from {self.allow}")
        if self.digest is not None:
            parts.append(f"with digest credentials (realm {self.digest.realm!r})")
        if not parts:
            return "calls accepted from nobody (no allowed source, no credentials)"
        return "calls accepted " + " or ".join(parts)


def _printable(text: str | None) -> str | None:
    """A peer's text made safe for one log line."""
    if text is None:
        return None
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:64]
