"""Where a placed call goes and whom it is from: the target read once, the proxy route, the From.

A call goes to a phone number (digits, an optional leading ``+``, blanks and
separators dropped) or a SIP URI, read once by :func:`call_target`: the URI it
gives is the Request-URI sent, and what a dial policy judges. A number becomes
``sip:NUMBER@HOST`` with the outbound proxy's host, or else the registered AOR's.
With an outbound proxy every INVITE goes through it (:func:`proxy_route`: a loose
``Route``, ``;lr`` added when missing). The From is the caller id, else the
registered AOR, else ``sip:sipgw@<our address>`` (:func:`caller`): a number
(``+15551234567``) becomes the user of a ``sip:+15551234567@HOST`` URI at the AOR's
host or our address, which is what trunks check (Twilio: an owned or verified E.164
number; Telnyx: ``403 Caller Origination Number is Invalid D35`` otherwise). The
account may also put it in P-Asserted-Identity or P-Preferred-Identity, and withhold
it (``Privacy: id``, :mod:`sipgw.sip.identity`).

Each account of the accounts file can place calls too, with its own proxy,
credentials, caller id and identity header (:meth:`OutboundConfig.for_account`).

Pure functions of :class:`OutboundConfig`: the settings validate with them, and
:mod:`sipgw.app.calls.outbound` places calls with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sipgw.agent.amd.settings import AmdMode
from sipgw.sip.auth import Credentials
from sipgw.sip.dialpolicy import DialTarget, PhoneNumber
from sipgw.sip.errors import SipError
from sipgw.sip.headers import NameAddr
from sipgw.sip.identity import IdentityHeader
from sipgw.sip.reliable import Reliability
from sipgw.sip.uri import SipUri, parse_uri

__all__ = [
    "CallTarget",
    "OutboundConfig",
    "account_config",
    "call_target",
    "caller",
    "proxy_route",
]

_DIGITS = re.compile(r"\+?[0-9]+")
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    """How calls are placed (:func:`sipgw.app.startup.outbound_config` builds it)."""

    proxy: str = ""
    """Outbound proxy URI (every INVITE goes through it); "" = straight to the target."""
    caller_id: str = ""
    """The From: a SIP URI, ``"Name" <sip:...>``, or a user/number; "" = the AOR."""
    ring_timeout: float = 60.0
    """Seconds before an unanswered call is cancelled."""
    redirect_hops: int = 3
    """How many 3xx one call follows, to targets the dial policy allows; 0 = none."""
    reliable: Reliability = "supported"
    """Reliable provisional responses (RFC 3262): ``supported``, ``required`` or ``off``."""
    aor: str = ""
    """The registered address of record, if any (default From and number domain)."""
    username: str = ""
    """Digest user name for 401/407 challenges; "" = none."""
    password: str = field(default="", repr=False)
    """Digest password (never shown)."""
    amd: AmdMode = AmdMode.OFF
    """Answering-machine detection of a call that does not ask for its own (``SIPGW_AMD``)."""
    identity: IdentityHeader = IdentityHeader.NONE
    """The header that carries the caller id too (P-Asserted- or P-Preferred-Identity)."""
    withhold: bool = False
    """Withhold the caller id from the callee (``Privacy: id``, an anonymous From)."""
    accounts: Mapping[str, OutboundConfig] = field(default_factory=dict)
    """How each account of the accounts file places calls, by account name."""
    codecs: tuple[str, ...] | None = None
    """The account's own codecs, most preferred first (docs/hd-voice.md); None = the
    gateway's, G.711 first when there is an ``aor`` (a trunk's or PBX's account)."""
    inband_dtmf: str | None = None
    """The account's ``inband_dtmf`` (key tones in its calls' audio); None = the gateway's."""

    @property
    def credentials(self) -> Credentials | None:
        """What to answer challenges with, if anything."""
        return Credentials(self.username, self.password) if self.username else None

    def for_account(self, name: str | None) -> OutboundConfig:
        """The config of account ``name`` (None: this one).

        Raises:
            ValueError: there is no such account.
        """
        if name is None or name == "register":
            return self
        found = self.accounts.get(name)
        if found is None:
            known = ", ".join(sorted(self.accounts)) or "none"
            raise ValueError(f"no account {name!r} to call through (accounts: {known})")
        return found


def account_config(
    base: OutboundConfig,
    *,
    aor: str,
    username: str,
    password: str,
    proxy: str,
    caller_id: str,
    identity: IdentityHeader,
    withhold: bool,
    codecs: tuple[str, ...] | None = None,
    inband_dtmf: str | None = None,
    reliable: Reliability | None = None,
) -> OutboundConfig:
    """How one account of the accounts file places calls: its AOR (the default From and
    the host of numbers), credentials, proxy (else ``base``'s), caller id and identity
    header; the ring timeout and redirect hops are ``base``'s."""
    return OutboundConfig(
        proxy=proxy or base.proxy,
        caller_id=caller_id,
        ring_timeout=base.ring_timeout,
        redirect_hops=base.redirect_hops,
        reliable=base.reliable if reliable is None else reliable,
        aor=aor,
        username=username if password else "",
        password=password,
        identity=identity,
        withhold=withhold,
        codecs=codecs,
        inband_dtmf=inband_dtmf,
    )


def _sip_uri(text: str) -> SipUri:
    try:
        uri = parse_uri(text.strip())
    except SipError:
        raise ValueError("not a SIP URI") from None
    if not isinstance(uri, SipUri) or not uri.host:
        raise ValueError("not a sip: or sips: URI")
    return uri


def proxy_route(proxy: str) -> str:
    """The Route for an outbound proxy URI: loose routing, ``;lr`` added when missing.

    Raises:
        ValueError: not a SIP URI.
    """
    uri = _sip_uri(proxy.strip().removeprefix("<").removesuffix(">"))
    if "lr" not in uri.params:
        uri.params["lr"] = None
    return str(uri)


@dataclass(frozen=True, slots=True)
class CallTarget:
    """Where a placed call goes: the Request-URI sent, and the number it was dialled as."""

    uri: SipUri
    """The INVITE's Request-URI (and To)."""
    number: PhoneNumber | None = None
    """The number, for a call to a phone number: its digits are ``uri``'s user part."""

    @property
    def judged(self) -> DialTarget:
        """What the dial allow-list judges: the number for a number, else the URI itself."""
        return self.number if self.number is not None else self.uri


def call_target(target: str, config: OutboundConfig) -> CallTarget:
    """Read ``target`` once: a SIP URI as given, or a phone number at the proxy's or AOR's host.

    Raises:
        ValueError: neither, or a number with no host to send it to.
    """
    text = target.strip()
    number = PhoneNumber.parse(text)
    if number is not None and _DIGITS.fullmatch(number.digits):
        for source in (config.proxy, config.aor):
            if source:
                host = _sip_uri(source.strip().removeprefix("<").removesuffix(">"))
                return CallTarget(SipUri("sip", number.digits, None, host.host, host.port), number)
        raise ValueError(
            f"a phone number ({target}) needs an outbound proxy (SIPGW_OUTBOUND_PROXY) "
            "or a registration (SIPGW_REGISTER) to say where it goes"
        )
    if not text.lower().startswith(("sip:", "sips:")) and "@" in text:
        text = f"sip:{text}"
    return CallTarget(_sip_uri(text))


def caller(config: OutboundConfig, host: str) -> tuple[str, str | None]:
    """Our From (URI, display name): the caller id, else the AOR, else ``sip:sipgw@host``.

    Raises:
        ValueError: a caller id that looks like a URI but is not one.
    """
    caller_id = config.caller_id.strip()
    domain = host
    if config.aor:
        domain = _sip_uri(config.aor).host_port
    if not caller_id:
        return (config.aor or f"sip:sipgw@{domain}"), None
    if "<" in caller_id:
        try:
            name_addr = NameAddr.parse(caller_id)
        except SipError:
            raise ValueError('not a name-addr like "Name" <sip:user@host>') from None
        return str(_sip_uri(str(name_addr.uri))), name_addr.display_name
    if caller_id.lower().startswith(("sip:", "sips:")):
        return str(_sip_uri(caller_id)), None
    user = _NUMBER_PUNCTUATION.sub("", caller_id)
    if not re.fullmatch(r"[A-Za-z0-9+_.!~*'-]+", user):
        raise ValueError("must be a SIP URI, a name-addr, or a user name or number")
    return f"sip:{user}@{domain}", None
