"""The TwiML that connects a Twilio call to our Media Streams endpoint.

A Twilio number's "A call comes in" webhook answers with this document; Twilio then opens a
bidirectional stream (``<Connect><Stream>``) to ``url`` and sends the ``<Parameter>`` pairs in
the ``start`` message's ``customParameters`` (Twilio's "TwiML Voice: <Stream>" page;
docs/cloud-apis.md, "Twilio Media Streams"). Its rules, checked here so that a mistake is an
error at our end and not a call that Twilio drops:

- ``url`` is ``wss://`` ("wss is the only supported protocol") and has no query string ("The
  url does not support query string parameters": pass values as parameters instead);
- each parameter's name and value together are under 500 characters;
- ``<Connect><Stream>`` blocks the TwiML after it until the WebSocket closes, so nothing else
  goes in the document.

Every value is XML-escaped: a caller's number or a CRM value cannot change the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

__all__ = ["MAX_PARAMETER_CHARS", "REJECT_REASONS", "connect_stream_twiml", "reject_twiml"]

MAX_PARAMETER_CHARS: Final = 500
"""A ``<Parameter>``'s name and value together must be shorter than this (Twilio's limit)."""
REJECT_REASONS = ("busy", "rejected")
"""``<Reject reason>``: a busy signal, or the caller's network's not-in-service message."""


def reject_twiml(reason: str = "busy") -> str:
    """``<Response><Reject reason=...>``: Twilio does not pick the call up (nothing is billed;
    Twilio's "TwiML Voice: <Reject>": it must be the document's first verb).

    Raises:
        ValueError: ``reason`` is not one of :data:`REJECT_REASONS`.
    """
    if reason not in REJECT_REASONS:
        raise ValueError(f"<Reject> reason {reason!r}: Twilio takes busy or rejected")
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="{reason}"/></Response>'


def connect_stream_twiml(
    url: str,
    parameters: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    *,
    name: str | None = None,
    status_callback: str | None = None,
) -> str:
    """``<Response><Connect><Stream url=...>`` with one ``<Parameter>`` per pair, escaped.

    Args:
        url: our WebSocket endpoint, ``wss://host/path`` with no query string.
        parameters: name/value pairs for the stream's ``customParameters``.
        name: the stream's name (unique per call), if any.
        status_callback: an absolute URL Twilio posts stream-started/stopped/error to.

    Raises:
        ValueError: the URL is not ``wss://`` with a host and no query, or a parameter is
            empty-named or too long; the message names what was given.
    """
    parts = urlsplit(url)
    if parts.scheme != "wss" or not parts.netloc:
        raise ValueError(f"stream URL {url!r}: Twilio streams only to wss://host/path")
    if parts.query or "?" in url:
        raise ValueError(
            f"stream URL {url!r}: Twilio's <Stream> url takes no query string; "
            "send those values as <Parameter> pairs"
        )
    if status_callback is not None and urlsplit(status_callback).scheme not in ("http", "https"):
        raise ValueError(f"statusCallback {status_callback!r} is not an absolute http(s) URL")
    pairs = list(parameters.items() if isinstance(parameters, Mapping) else parameters)
    for what, text in [("stream URL", url), ("name", name), ("statusCallback", status_callback)]:
        _check_xml_text(what, text)
    for key, value in pairs:
        _check_xml_text("stream parameter", key)
        _check_xml_text(f"stream parameter {key[:40]!r}", value)
        if not key:
            raise ValueError(f"a stream parameter has an empty name (value {value[:40]!r})")
        if len(key) + len(value) >= MAX_PARAMETER_CHARS:
            raise ValueError(
                f"stream parameter {key[:40]!r}: name and value are {len(key) + len(value)} "
                f"characters; Twilio takes fewer than {MAX_PARAMETER_CHARS}"
            )
    attributes = f"url={quoteattr(url)}"
    if name is not None:
        attributes += f" name={quoteattr(name)}"
    if status_callback is not None:
        attributes += f" statusCallback={quoteattr(status_callback)}"
    body = "".join(f"<Parameter name={_attr(key)} value={_attr(value)}/>" for key, value in pairs)
    stream = f"<Stream {attributes}>{body}</Stream>" if body else f"<Stream {attributes}/>"
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect>{stream}</Connect></Response>'


def _check_xml_text(what: str, text: str | None) -> None:
    """Refuse characters XML 1.0 cannot carry at all (control characters, lone surrogates)."""
    for char in text or "":
        code = ord(char)
        control = code < 0x20 and char not in "\t\n\r"
        if control or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            raise ValueError(f"{what}: character U+{code:04X} cannot be written in TwiML")


def _attr(value: str) -> str:
    """An attribute value, quoted; line breaks and tabs kept (an XML parser folds raw ones)."""
    return quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
