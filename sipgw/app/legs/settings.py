"""The settings of the browser and Twilio legs: the ``legs`` section, :class:`LegsSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import on_off, text, verbatim

__all__ = ["ICE_SCHEMES", "LegsSettings", "ice_server_list", "public_url"]

ICE_SCHEMES = ("stun", "stuns", "turn", "turns")
"""The URL schemes of ICE servers (RFC 7064, RFC 7065)."""


def public_url(value: str) -> str:
    """``https://host[:port][/path]`` (no query, no fragment), or empty; the trailing ``/``
    dropped."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            "must be the https:// address the admin server is reached at, e.g. "
            "https://gw.example.com (no query string)"
        )
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def ice_server_list(value: str) -> tuple[str, ...]:
    """Comma-separated ``stun:HOST[:PORT]`` and ``turn:HOST[:PORT][?transport=udp|tcp]``
    (``turns:``, ``stuns:`` too)."""
    servers = tuple(item.strip() for item in value.split(",") if item.strip())
    for server in servers:
        scheme, _, rest = server.partition(":")
        host, _, query = rest.partition("?")
        if scheme not in ICE_SCHEMES or not host or host.startswith("/") or "@" in host:
            raise ValueError(
                "must be stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp|tcp] "
                "(turns:, stuns: too), comma-separated; TURN credentials go in "
                "SIPGW_TURN_USERNAME and SIPGW_TURN_PASSWORD"
            )
        if query and query not in ("transport=udp", "transport=tcp"):
            raise ValueError(f"{server}: the only query allowed is ?transport=udp or tcp")
    return servers


@section(
    "legs",
    title="Browser and Twilio calls",
    intro="Calls that do not come over SIP, served by the admin server (SIPGW_ADMIN_PORT): "
    "the call page /dashboard/phone, and a Twilio number's calls through Media Streams. "
    "See docs/legs.md.",
)
@dataclass(frozen=True)
class LegsSettings:
    """The browser call page's switch and ICE servers, Twilio's token and our public URL."""

    browser_calls: bool = setting(
        True, env="SIPGW_BROWSER_CALLS", flag="--browser-calls", metavar="on|off", parse=on_off,
        default_text="on",
        help="Serve the call page (/dashboard/phone on the admin server, behind its token): "
        "talk to the agent from a browser over WebRTC.",
    )  # fmt: skip
    ice_servers: tuple[str, ...] = setting(
        (), env="SIPGW_ICE_SERVERS", flag="--ice-servers", metavar="URL,...",
        parse=ice_server_list, default_text="",
        help="STUN and TURN servers for browser calls, comma-separated: stun:HOST:PORT, "
        "turn:HOST:PORT?transport=udp; empty = the host's own addresses only (a browser on "
        "the same network).",
    )  # fmt: skip
    turn_username: str = setting(
        "", env="SIPGW_TURN_USERNAME", flag="--turn-username", metavar="NAME", parse=text,
        help="User name on the TURN servers of SIPGW_ICE_SERVERS (the browser gets it too).",
    )  # fmt: skip
    turn_password: str = setting(
        "", env="SIPGW_TURN_PASSWORD", flag="--turn-password", metavar="SECRET",
        parse=verbatim, secret=True,
        help="Password on the TURN servers (the browser gets it too: use short-lived or "
        "restricted credentials).",
    )  # fmt: skip
    twilio_auth_token: str = setting(
        "", env="SIPGW_TWILIO_AUTH_TOKEN", flag="--twilio-auth-token", metavar="TOKEN",
        parse=verbatim, secret=True,
        help="The Twilio account's Auth Token: turns on /twilio/voice (the number's webhook) "
        "and /twilio/stream (Media Streams), whose requests must carry Twilio's signature "
        "made with it; empty = off.",
    )  # fmt: skip
    twilio_own_twiml: bool = setting(
        False, env="SIPGW_TWILIO_OWN_TWIML", flag="--twilio-own-twiml", metavar="on|off",
        parse=on_off, default_text="off",
        help="Also take Media Streams that our webhook did not start (a TwiML of your own whose "
        "Stream url is /twilio/stream): they are checked by the handshake's "
        "signature alone, which covers the URL only, so whoever replays one handshake opens "
        "streams (paid calls) with parameters of their choosing; off = every stream must "
        "carry the one-time token of our webhook's TwiML.",
    )  # fmt: skip
    public_url: str = setting(
        "", env="SIPGW_PUBLIC_URL", flag="--public-url", metavar="URL", parse=public_url,
        help="The https:// address Twilio reaches the admin server at (through a TLS proxy), "
        "e.g. https://gw.example.com: the URL Twilio signs, and the stream's wss:// address.",
    )  # fmt: skip

    @property
    def twilio(self) -> bool:
        """Whether the Twilio endpoints are on."""
        return bool(self.twilio_auth_token)

    def taking_calls(self, admin: bool) -> tuple[str, ...]:
        """The legs that take calls besides SIP, each with what admits a call, as the
        start-up access line names them (:func:`sipgw.app.security.access.closed_line`); none
        without the admin server (``admin``), which serves them."""
        legs: list[str] = []
        if admin and self.twilio:
            streams = (
                "streams without our webhook's one-time token too: SIPGW_TWILIO_OWN_TWIML=on"
                if self.twilio_own_twiml
                else "each stream with our webhook's one-time token"
            )
            legs.append(f"the Twilio leg (signed by Twilio; {streams})")
        if admin and self.browser_calls:
            legs.append("the browser leg (/dashboard/phone, for whoever the admin server admits)")
        return tuple(legs)

    @property
    def webhook_url(self) -> str:
        """The URL of a number's "A call comes in" webhook (``POST``)."""
        return f"{self.public_url}/twilio/voice"

    @property
    def stream_url(self) -> str:
        """The ``wss://`` URL Twilio opens a stream to."""
        return "wss" + self.public_url.removeprefix("https") + "/twilio/stream"

    def check(self) -> None:
        """Twilio needs our public address; TURN servers need credentials.

        Raises:
            InvalidSettings: a token without the public URL, or TURN without credentials.
        """
        if self.twilio_auth_token and not self.public_url:
            raise InvalidSettings(
                "{twilio_auth_token} needs {public_url}: Twilio signs the URL it requested, "
                "and the stream's wss:// address is built from it"
            )
        turn = any(s.startswith("turn") for s in self.ice_servers)
        if turn and not (self.turn_username and self.turn_password):
            raise InvalidSettings(
                "{ice_servers} names a TURN server: set {turn_username} and {turn_password}"
            )
