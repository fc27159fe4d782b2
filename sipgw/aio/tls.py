"""TLS contexts for SIP over TLS (RFC 3261 §26.3.1, RFC 5922 server identity)."""

from __future__ import annotations

import ssl

__all__ = ["client_context", "server_context"]


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The context of our TLS listener: our certificate chain and key, TLS 1.2 or later.

    Raises:
        OSError, ssl.SSLError: the files cannot be read or do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def client_context(ca_file: str = "", cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """The context of connections we open: the server's certificate is verified.

    The chain is checked against ``ca_file`` (system CAs when empty) and the
    name against the host we connect to (``server_hostname``: the URI's host,
    a DNS name or an IP address). Our own certificate, when given, is offered
    to servers that ask for one.

    Raises:
        OSError, ssl.SSLError: a file cannot be read.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file and key_file:
        context.load_cert_chain(cert_file, key_file)
    return context
