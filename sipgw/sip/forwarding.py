"""Why a forwarded call came to us: ``History-Info`` (RFC 7044) and ``Diversion`` (RFC 5806).

A call to a number that forwards (busy, no answer, always) reaches us with the called
number changed; a PBX or trunk says where it was retargeted from, and why:

* ``History-Info`` (RFC 7044 §4): one entry per target the request was sent to, with a
  hierarchical ``index``. An entry the request was retargeted *away* from carries the
  reason in its URI's ``Reason`` header (``<sip:bob@a.example?Reason=SIP%3Bcause%3D486>``,
  RFC 7044 §4.2.1), and the new target may carry a ``cause`` URI parameter
  (RFC 4458 §3, e.g. ``sip:voicemail@a.example;cause=486``).
* ``Diversion`` (RFC 5806 §3, historic but what many trunks send): one value per
  diversion, the most recent first, the diverting party's URI with ``reason`` (a token:
  ``user-busy``, ``no-answer``, ``unconditional``, ...) and ``counter``.

:func:`forwarded` returns the forwarding steps oldest first from History-Info when the
request has any, else from Diversion. Everything is read leniently: an entry that does
not parse is left out, never an error for the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from sipgw.sip.errors import SipError
from sipgw.sip.headers import Headers, NameAddr, split_header_list
from sipgw.sip.uri import SipUri

__all__ = ["CAUSE_REASONS", "Forwarding", "diversions", "forwarded", "history"]

CAUSE_REASONS: dict[int, str] = {
    302: "unconditional",
    404: "unknown",
    408: "no-answer",
    480: "deflection",
    486: "user-busy",
    487: "deflection",
    503: "unavailable",
}
"""RFC 4458 §3 (and RFC 7044 §10): the SIP cause of a retargeting, as Diversion names it."""

MAX_STEPS = 10
"""Steps kept at most (a forwarding loop must not fill the agent's prompt)."""


@dataclass(frozen=True, slots=True)
class Forwarding:
    """One forwarding step that brought the call here.

    Attributes:
        by: the URI that was called and forwarded the call (e.g. the number the
            caller dialled), without URI headers.
        number: its user part (``+15551234567``), "" when it has none.
        reason: why, as Diversion names it (``user-busy``, ``no-answer``,
            ``unconditional``, ...); "" when not said.
        cause: the SIP status that caused it (History-Info, RFC 4458), if given.
    """

    by: str
    number: str = ""
    reason: str = ""
    cause: int | None = None

    def describe(self) -> str:
        """One phrase for people and prompts: ``+15551234567 (user-busy)``."""
        why = self.reason or (f"SIP {self.cause}" if self.cause else "")
        who = self.number or self.by
        return f"{who} ({why})" if why else who


def _bare(name_addr: NameAddr) -> tuple[str, str]:
    """The URI without its headers, and its user part."""
    uri = name_addr.uri
    if isinstance(uri, SipUri):
        plain = SipUri(uri.scheme, uri.user, None, uri.host, uri.port, dict(uri.params))
        return str(plain), (uri.user or "").split(";", 1)[0]
    return str(uri), uri.rest.split(";", 1)[0] if uri.scheme == "tel" else ""


def _entries(headers: Headers, name: str) -> list[NameAddr]:
    found: list[NameAddr] = []
    for value in headers.get_all(name):
        for part in split_header_list(value):
            try:
                found.append(NameAddr.parse(part))
            except SipError:
                continue
    return found


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip('"')
    return int(text) if text.isdigit() and len(text) <= 3 else None


def _reason_cause(uri: SipUri) -> int | None:
    """The ``cause`` of a ``Reason: SIP;cause=NNN`` embedded in an hi-targeted-to-uri."""
    for name, value in uri.headers:
        if name.lower() != "reason":
            continue
        protocol, _, params = unquote(value).partition(";")
        if protocol.strip().upper() != "SIP":
            continue
        for param in params.split(";"):
            key, _, number = param.partition("=")
            if key.strip().lower() == "cause":
                return _int(number.strip())
    return None


def _index(entry: NameAddr) -> tuple[int, ...]:
    text = entry.params.get("index") or ""
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (1 << 30,)  # no usable index: after the others, in arrival order


def history(headers: Headers) -> tuple[Forwarding, ...]:
    """The retargetings in ``History-Info``, oldest first (RFC 7044 §4, RFC 4458 §3)."""
    entries = sorted(_entries(headers, "History-Info"), key=_index)
    steps: list[Forwarding] = []
    for position, entry in enumerate(entries):
        if not isinstance(entry.uri, SipUri):
            continue
        cause = _reason_cause(entry.uri)
        if cause is None and position + 1 < len(entries):
            following = entries[position + 1].uri
            if isinstance(following, SipUri):
                cause = _int(following.params.get("cause"))
        if cause is None:
            continue  # not retargeted away from this entry
        by, number = _bare(entry)
        steps.append(Forwarding(by, number, CAUSE_REASONS.get(cause, ""), cause))
    return tuple(steps[:MAX_STEPS])


def diversions(headers: Headers) -> tuple[Forwarding, ...]:
    """The ``Diversion`` values, oldest first (the header lists the most recent first)."""
    steps: list[Forwarding] = []
    for entry in _entries(headers, "Diversion"):
        by, number = _bare(entry)
        reason = (entry.params.get("reason") or "").strip('"').lower()
        cause = _int(entry.params.get("reason")) if reason.isdigit() else None
        steps.append(
            Forwarding(by, number, CAUSE_REASONS.get(cause, "") if cause else reason, cause)
        )
    return tuple(reversed(steps))[:MAX_STEPS]


def forwarded(headers: Headers) -> tuple[Forwarding, ...]:
    """How the call was forwarded, oldest step first: History-Info if any, else Diversion."""
    return history(headers) or diversions(headers)
