"""``X-Twilio-Signature``: that a webhook request or a stream's WebSocket handshake is Twilio's.

Twilio's "Webhooks security" page (docs/cloud-apis.md, "Twilio Media Streams"): take the full
URL Twilio requested, from the scheme to the end of the query string; for a form POST, append
each POST parameter's name and value, sorted by name ("Unix-style case-sensitive sorting
order"), with no delimiters; HMAC-SHA1 the string with the account's (primary) Auth Token as
the key; base64 the digest. A JSON body is not folded in: the URL carries a ``bodySHA256``
query parameter, the hex SHA-256 of the body, and is signed as is. The Media Streams page asks
to check the header on the WebSocket handshake too (a GET: the URL alone).

URL forms Twilio may have signed, all tried: for voice webhooks over HTTPS "Twilio will also
drop the port", so the URL without its port and with the scheme's default one; for "voice WSS
handshake requests", the docs suggest "appending a trailing /". Each try is a full HMAC
comparison in constant time (:func:`hmac.compare_digest`); the variants differ only in how
the same resource is written, so none lets a signature for one resource pass for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["signature_for", "url_variants", "verify_signature"]

_DEFAULT_PORTS: Final = {"https": 443, "wss": 443, "http": 80, "ws": 80}

Params = Mapping[str, str] | Iterable[tuple[str, str]]
"""POST form parameters: a mapping, or pairs (a name may repeat)."""


def signature_for(auth_token: str, url: str, params: Params = ()) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``url`` and the form ``params``.

    Pairs are sorted by name, then by value (a repeated name, as Twilio's SDKs do).
    """
    pairs = sorted(params.items() if isinstance(params, Mapping) else params)
    data = url + "".join(name + value for name, value in pairs)
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """``url`` and the other forms of it Twilio may have signed (see the module docstring)."""
    parts = urlsplit(url)
    forms = [url]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    userless = host if parts.port is None else f"{host}:{parts.port}"
    default = _DEFAULT_PORTS.get(parts.scheme)
    if parts.port is not None:
        forms.append(urlunsplit(parts._replace(netloc=host)))
    elif default is not None:
        forms.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    if "@" in parts.netloc:  # Twilio drops user:password before signing
        forms.append(urlunsplit(parts._replace(netloc=userless)))
    if not parts.path.endswith("/"):
        forms += [
            urlunsplit(urlsplit(form)._replace(path=urlsplit(form).path + "/")) for form in forms
        ]
    return list(dict.fromkeys(forms))


def verify_signature(
    auth_token: str,
    signature: str | None,
    url: str,
    params: Params = (),
    *,
    body: bytes | None = None,
) -> bool:
    """Whether ``signature`` (the header's value) is Twilio's for this request.

    Args:
        auth_token: the account's Auth Token (the HMAC key). An empty token never verifies:
            anyone can sign with an empty key.
        signature: the ``X-Twilio-Signature`` header, or None when it is missing.
        url: the full URL Twilio requested, query string included, as Twilio saw it (the
            public one, not the one a proxy rewrote).
        params: the form POST parameters (nothing for a GET or a JSON body).
        body: for a JSON body, the raw bytes: the URL's ``bodySHA256`` must be their hex
            SHA-256 (and ``params`` must be empty).

    Returns:
        True only if the signature matches one of :func:`url_variants` of ``url``.
    """
    if not auth_token or not signature:
        return False
    if body is not None:
        stated = dict(parse_qsl(urlsplit(url).query)).get("bodySHA256", "")
        actual = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(stated.lower().encode(), actual.encode()):
            return False
        params = ()
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    given = signature.strip().encode()
    matched = False
    for form in url_variants(url):
        expected = signature_for(auth_token, form, pairs).encode()
        matched |= hmac.compare_digest(expected, given)  # every form, in constant time
    return matched
