"""Message bodies the user agent understands: SDP (also inside multipart) and INFO DTMF."""

from __future__ import annotations

from sipgw.sip.errors import RemoteProtocolError
from sipgw.sip.message import SipRequest, SipResponse

__all__ = ["DTMF_CONTENT_TYPES", "body_part", "parse_dtmf_info", "sdp_body"]

DTMF_CONTENT_TYPES = ("application/dtmf-relay", "application/dtmf")
_DTMF_DIGITS = "0123456789*#ABCD"


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, _, val = param.partition("=")
        parsed[name.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), parsed


def sdp_body(request: SipRequest | SipResponse) -> bytes | None:
    """The SDP carried by a request (or a response), or None when it has no body.

    Accepts ``application/sdp`` directly or as a part of ``multipart/mixed``
    or ``multipart/alternative`` (RFC 5621), as trunks sending ISUP or
    location bodies do.

    Raises:
        RemoteProtocolError: 415 for a body we cannot use (RFC 3261 §8.2.3).
    """
    if not request.body:
        return None
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise RemoteProtocolError(f"unsupported Content-Encoding {encoding}", 415)
    kind, params = _media_type(request.headers.get("Content-Type") or "application/sdp")
    if kind == "application/sdp":
        return request.body
    if kind.startswith("multipart/") and params.get("boundary"):
        for part_type, part in _multipart_parts(request.body, params["boundary"]):
            if part_type == "application/sdp":
                return part
    raise RemoteProtocolError(f"unsupported body type {kind}", 415)


def body_part(message: SipRequest | SipResponse, content_type: str) -> bytes | None:
    """The part of ``message``'s ``multipart/*`` body of type ``content_type`` (the first),
    or the whole body when that is its type; None when it has no such part (a SIPREC
    INVITE's metadata, ``application/rs-metadata+xml``: RFC 7866 §9.1)."""
    if not message.body:
        return None
    kind, params = _media_type(message.headers.get("Content-Type") or "application/sdp")
    if kind == content_type:
        return message.body
    if kind.startswith("multipart/") and params.get("boundary"):
        for part_type, part in _multipart_parts(message.body, params["boundary"]):
            if part_type == content_type:
                return part
    return None


def _multipart_parts(body: bytes, boundary: str) -> list[tuple[str, bytes]]:
    """Split a MIME multipart body (RFC 2046 §5.1) into (content type, bytes)."""
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    parts: list[tuple[str, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # close delimiter
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
        part_type = "text/plain"  # RFC 2046 §5.1 default
        for line in head.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                part_type = _media_type(value)[0]
        # The line break before the next delimiter belongs to it (RFC 2046 §5.1.1): one only.
        line_break = b"\r\n" if content.endswith(b"\r\n") else b"\n"
        parts.append((part_type, content.removesuffix(line_break)))
    return parts


def parse_dtmf_info(request: SipRequest) -> tuple[str, int | None]:
    """The digit and duration (ms) of a SIP INFO DTMF request.

    ``application/dtmf-relay`` carries ``Signal=5`` and ``Duration=160`` lines
    (the de facto Cisco format); ``application/dtmf`` carries the digit alone.

    Raises:
        RemoteProtocolError: 415 for another body type, 400 for a bad body.
    """
    kind, _ = _media_type(request.headers.get("Content-Type") or "")
    text = request.body.decode("utf-8", "replace")
    if kind == "application/dtmf":
        digit, duration = text.strip(), None
    elif kind == "application/dtmf-relay":
        fields: dict[str, str] = {}
        for line in text.splitlines():
            name, _, value = line.partition("=")
            fields[name.strip().lower()] = value.strip()
        digit = fields.get("signal", "")
        raw = fields.get("duration", "")
        duration = int(raw) if raw.isdigit() else None
    else:
        raise RemoteProtocolError(f"unsupported INFO body {kind or '(none)'}", 415)
    if digit == "16":
        digit = "!"  # flash-hook (RFC 4733 event 16)
    elif digit.isdigit() and len(digit) == 2 and int(digit) < len(_DTMF_DIGITS):
        digit = _DTMF_DIGITS[int(digit)]  # some devices send event numbers: 10 = "*"
    digit = digit.upper()
    if len(digit) != 1 or digit not in _DTMF_DIGITS + "!":
        raise RemoteProtocolError(f"bad DTMF signal {digit!r}", 400)
    return digit, duration
