"""What the far end said when it refused our INVITE: status, reason phrase, Reason, Warning.

A carrier explains a refusal in the reason phrase (``403 Caller Origination Number is
Invalid D35``), in a ``Reason`` header (RFC 3326 §2: ``Q.850;cause=21;text="Call
Rejected"``), in a ``Warning`` header (RFC 3261 §20.43: ``399 sbc.example "caller id
not allowed"``) or in a header of its own that carries its error code
(:data:`CARRIER_HEADERS`). :class:`FinalReply` keeps them all, read leniently and made
safe to print: non-printable characters become ``?`` and each text is bounded, so a
hostile peer cannot forge log lines or flood them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipgw.sip.customheaders import received_custom_headers
from sipgw.sip.headers import split_header_list
from sipgw.sip.message import SipResponse

__all__ = ["CARRIER_HEADERS", "FinalReply", "printable"]

MAX_TEXT = 200
"""Characters kept of a reason phrase, and of each Reason or Warning text."""
MAX_HEADERS = 4
"""Reason and Warning values kept each."""
CARRIER_HEADERS = ("X-Twilio-Error", "X-ZT-Hangup-Code")
"""Headers in which carriers name their own error code: Twilio's ``X-Twilio-Error``
(twilio.com/en-us/changelog, 2022-07-11: a ``603 Decline`` to an inactive account carries
``X-Twilio-Error`` with error 10001), Plivo Zentrunk's ``X-ZT-Hangup-Code`` (the hangup
code, e.g. 4190 ``unknown_caller_id``: plivo.com/docs/sip-trunking/troubleshooting/
zentrunk-hangup-codes). The first value of each is kept."""

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WARNING = re.compile(r'\s*(\d{3})\s+(\S+)\s+"((?:[^"\\]|\\.)*)"\s*')


def printable(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` with every non-printable character replaced by ``?``, cut to ``limit``."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _reason(value: str) -> str:
    """``Q.850;cause=21;text="Call Rejected"`` -> ``Q.850 cause 21: Call Rejected``."""
    protocol, _, rest = value.partition(";")
    cause = text = ""
    for param in _split_params(rest):
        name, _, raw = param.partition("=")
        name = name.strip().lower()
        if name == "cause":
            cause = raw.strip()
        elif name == "text":
            quoted = _QUOTED.fullmatch(raw.strip())
            text = _unquote(quoted.group(1)) if quoted else raw.strip()
    described = protocol.strip()
    if cause:
        described += f" cause {cause}"
    if text:
        described += f": {text}"
    return printable(described)


def _split_params(text: str) -> list[str]:
    """Split on ``;`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _warning(value: str) -> str:
    """``399 sbc.example "no caller id"`` -> ``399 sbc.example: no caller id``."""
    match = _WARNING.fullmatch(value)
    if match is None:
        return printable(value)
    code, agent, text = match.groups()
    return printable(f"{code} {agent}: {_unquote(text)}")


@dataclass(frozen=True, slots=True)
class FinalReply:
    """A final response to our INVITE, as people should see it.

    Attributes:
        status: the status code.
        phrase: the reason phrase as sent (made printable).
        reasons: the Reason header values, e.g. ``Q.850 cause 21: Call Rejected``.
        warnings: the Warning header values, e.g. ``399 sbc.example: caller id not allowed``.
        carrier: the carrier's own error headers (:data:`CARRIER_HEADERS`) as
            ``Name: value``, e.g. ``X-ZT-Hangup-Code: 4190``.
    """

    status: int
    phrase: str = ""
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    carrier: tuple[str, ...] = ()
    custom: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, response: SipResponse) -> FinalReply:
        """Read a response's status line, Reason and Warning headers (never raises)."""
        reasons = [
            _reason(part)
            for value in response.headers.get_all("Reason")
            for part in split_header_list(value)
        ]
        warnings = [
            _warning(part)
            for value in response.headers.get_all("Warning")
            for part in split_header_list(value)
        ]
        carrier = [
            f"{name}: {printable(value)}"
            for name in CARRIER_HEADERS
            if (value := response.headers.get(name)) is not None and value.strip()
        ]
        return cls(
            response.status,
            printable(response.reason),
            tuple(reasons[:MAX_HEADERS]),
            tuple(warnings[:MAX_HEADERS]),
            tuple(carrier),
            received_custom_headers(response.headers),
        )

    def describe(self) -> str:
        """``403 Caller Origination Number is Invalid D35`` plus any Reason and Warning."""
        text = f"{self.status} {self.phrase}".strip()
        if self.reasons:
            text += f"; Reason: {', '.join(self.reasons)}"
        if self.warnings:
            text += f"; Warning: {', '.join(self.warnings)}"
        for header in self.carrier:
            text += f"; {header}"
        return text
