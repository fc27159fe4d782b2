"""TLS contexts for SIP over TLS (RFC 3261 §26.3.1, RFC 5922 server identity), mutual TLS.

Our listener asks peers for a certificate only when a CA is configured for them (then the
handshake fails without one chained to it); connections we open verify the server's chain and
name and offer our certificate, when we have one, to a server that asks. A peer's identities
are its certificate's subjectAltName DNS and SIP URI entries, or its CN when it has neither
(RFC 5922 §7.1).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["certificate_names", "client_context", "names_allowed", "server_context"]


def server_context(cert_file: str, key_file: str, peer_ca: str = "") -> ssl.SSLContext:
    """The context of our TLS listener: our certificate chain and key, TLS 1.2 or later.

    With ``peer_ca`` a peer must present a certificate chained to one of its CAs, or the
    handshake fails (mutual TLS).

    Raises:
        OSError, ssl.SSLError: the files cannot be read or do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if peer_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(peer_ca)
    return context


def client_context(
    ca_file: str = "", cert_file: str = "", key_file: str = "", check_hostname: bool = True
) -> ssl.SSLContext:
    """The context of connections we open: the server's certificate is verified.

    The chain is checked against ``ca_file`` (system CAs when empty) and, with
    ``check_hostname``, the name against the host we connect to (``server_hostname``: the
    URI's host, a DNS name or an IP address); without it the caller checks the names
    itself (:func:`names_allowed`). Our own certificate, when given, is offered to servers
    that ask for one.

    Raises:
        OSError, ssl.SSLError: a file cannot be read.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if cert_file and key_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def certificate_names(peercert: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The identities in a verified peer certificate (``getpeercert()``), lower-cased.

    RFC 5922 §7.1: the subjectAltName's SIP URIs (their host) and DNS names; the subject's
    CN only when there are none of those.
    """
    if not peercert:
        return ()
    names: list[str] = []
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "DNS":
            names.append(str(value).lower())
        elif kind == "URI" and str(value).lower().startswith(("sip:", "sips:")):
            host = str(value).split(":", 1)[1].split(";", 1)[0].rsplit("@", 1)[-1]
            names.append(host.lower())
    if names:
        return tuple(dict.fromkeys(names))
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.append(str(value).lower())
    return tuple(dict.fromkeys(names))


def names_allowed(peercert: Mapping[str, Any] | None, allowed: Iterable[str]) -> bool:
    """Whether the certificate names one of ``allowed`` (exactly; case does not matter)."""
    wanted = {name.lower() for name in allowed}
    return any(name in wanted for name in certificate_names(peercert))
