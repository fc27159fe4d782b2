"""Responses sent without a transaction, and never larger than the request; sans-IO.

RFC 3261 §8.2.7 lets a UAS answer statelessly: no transaction, no timers; a
retransmitted request gets the response again, built alike. We answer that way
whatever we refuse before it costs anything: over-limit requests (503), refused
or challenged ones (403, 401), malformed ones (400), requests from strangers that
name nothing we have (481).

Over UDP the source address of a request can be forged, so such a response may
be aimed at a victim; it must not carry more bytes than the request that asked
for it (no amplification). :meth:`StatelessResponder.fit` drops what a response
can do without (Server, Accept-Encoding, Supported, Accept, Allow, Warning, a
reason phrase's detail, Retry-After) until it fits in the request's size, then
writes the header names it keeps in their compact forms (``v``, ``f``, ``t``,
``i``, ``l``: RFC 3261 §7.3.3, which every parser must read), and gives up (the
request is dropped) when even that is larger. The bare response is the
request's Via, From, To, Call-ID and CSeq with a To tag and the ``received``
of §18.2.1, so only a request much shorter than the norm goes unanswered. Over
TCP and TLS the handshake proved the source: responses go whole.

The To tag of a stateless response (§8.2.6.2: a response to a request without
one carries ours) is derived from the request (its Call-ID, From tag and top
branch) with a per-process key, so that a retransmission gets the same tag
without our remembering anything.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sipgw.sip.errors import SipError
from sipgw.sip.headers import COMPACT_FORMS
from sipgw.sip.message import REASON_PHRASES, SipRequest, SipResponse, make_response

__all__ = ["OPTIONAL_HEADERS", "StatelessResponder", "compact"]

OPTIONAL_HEADERS = (
    "Server",
    "Accept-Encoding",
    "Supported",
    "Accept",
    "Allow",
    "Warning",
    "Retry-After",
)
"""What a stateless response loses first, in this order, to fit in the request's size."""

_COMPACT = {long.encode(): short.encode() for short, long in COMPACT_FORMS.items()}


class StatelessResponder:
    """Builds stateless responses (see the module docstring).

    Args:
        server: our Server header value; "" = none.
        key: the key of the To tags (default: random per process).
    """

    def __init__(self, server: str, key: bytes | None = None) -> None:
        self.server = server
        self._key = key or secrets.token_bytes(16)
        self.trimmed = 0
        """Responses that lost header fields to fit in their request's size."""
        self.too_large = 0
        """Requests left unanswered: even their bare response was larger."""

    def tag(self, request: SipRequest) -> str:
        """The To tag for a stateless response to ``request`` (the same for a retransmission)."""
        h = hashlib.blake2s(key=self._key, digest_size=5)
        for name in ("Call-ID", "From"):
            h.update((request.headers.get(name) or "").encode(errors="replace") + b"\0")
        vias = request.headers.get_all("Via")
        h.update((vias[0] if vias else "").encode(errors="replace"))
        return h.hexdigest()

    def build(
        self,
        request: SipRequest,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> SipResponse:
        """The response, with our To tag where the request had none and a Server header."""
        try:
            tagged = not request.to.tag
        except SipError:
            tagged = False  # a To we cannot read is copied as it is
        response = make_response(
            request, status, reason, to_tag=self.tag(request) if tagged and status > 100 else None
        )
        for name, value in headers:
            response.headers.add(name, value)
        if self.server:
            response.headers.add("Server", self.server)
        return response

    def fit(self, response: SipResponse, budget: int | None) -> bytes | None:
        """``response`` on the wire within ``budget`` octets (None = no limit), or None."""
        data = response.serialize()
        if budget is None or len(data) <= budget:
            return data
        self.trimmed += 1
        for name in OPTIONAL_HEADERS:
            if name in response.headers:
                response.headers.remove(name)
                data = response.serialize()
                if len(data) <= budget:
                    return data
            if name == "Warning":  # the detail in a 400's reason phrase goes next
                response.reason = REASON_PHRASES.get(response.status, "")
                data = response.serialize()
                if len(data) <= budget:
                    return data
        data = compact(data)
        if len(data) <= budget:
            return data
        self.trimmed -= 1
        self.too_large += 1
        return None


def compact(data: bytes) -> bytes:
    """A message's header names in their compact forms where they have one (RFC 3261 §7.3.3)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines[1:], 1):
        name, colon, value = line.partition(b": ")
        short = _COMPACT.get(name)
        if colon and short is not None:
            lines[i] = short + b":" + value
    return b"\r\n".join(lines) + sep + body
